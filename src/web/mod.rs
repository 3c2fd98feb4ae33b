//! JavaScript bindings (wasm-bindgen), compiled only with the `web` feature. They are the
//! low-level half of the npm package: `pkg/index.js` wraps them in the documented `Cc2d`
//! class (image conversion, weights fetching, a call queue, progress and cancellation).
//! Everything here calls the same library code the native CLI runs; only the read-back of
//! tensors differs (asynchronous, as WebGPU requires).

use std::cell::RefCell;
use std::rc::Rc;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use wasm_bindgen::prelude::*;

use crate::config::MatchingConfig;
use crate::config::SslConfig;
use crate::error::Error;
use crate::io::image::{self, GreyImage};
use crate::io::landmarks::{Detection, Point, Template};
use crate::model::detector::Detector;
use crate::model::weights;
use crate::preprocess::preprocess;
use crate::ssl::SslModel;
use crate::ssl::matching::SslMatcher;
use crate::tpl::detect::TplDetector;
use crate::tpl::train::{LabelledImage, learning_rate, trainable, training_step};
use crate::training::epoch_order;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

thread_local! {
    /// The page's WebGPU device: it can be initialised only once.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Initialises Burn on the browser's WebGPU (once per page; later calls reuse it). Fails
/// with a clear message when the browser offers no adapter (no `navigator.gpu`, or
/// `requestAdapter()` returned null).
pub async fn webgpu_device() -> Result<Device, Error> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::Invalid(format!("WebGPU is not available in this browser: {e}")))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// The device for a backend name: `webgpu`, `cpu` (Burn's flex), or `auto` (WebGPU when
/// the browser has an adapter, else the CPU).
async fn device_for(backend: &str) -> Result<(Device, &'static str), JsError> {
    match backend {
        "cpu" => Ok((Device::flex(), "cpu")),
        "webgpu" => webgpu_device().await.map(|d| (d, "webgpu")).map_err(js_error),
        "auto" => Ok(match webgpu_device().await {
            Ok(d) => (d, "webgpu"),
            Err(_) => (Device::flex(), "cpu"),
        }),
        other => Err(JsError::new(&format!("unknown backend {other:?}; use \"auto\", \"webgpu\" or \"cpu\""))),
    }
}

/// Reads a tensor back to the page (asynchronously: a synchronous read would block WebGPU).
async fn read(tensor: Tensor<4>, what: &str) -> Result<Vec<f32>, JsError> {
    let data = tensor.into_data_async().await.map_err(|e| JsError::new(&format!("reading {what}: {e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| JsError::new(&format!("reading {what}: {e:?}")))
}

/// A decoded image, grey, ready for the models.
#[wasm_bindgen]
pub struct Image {
    image: GreyImage,
    name: String,
}

#[wasm_bindgen]
impl Image {
    /// Decodes an encoded image (PNG, JPEG, BMP or TIFF; 8 or 16 bit). `name` is used in
    /// error messages and in results.
    #[wasm_bindgen(js_name = fromEncoded)]
    pub fn from_encoded(bytes: &[u8], name: &str) -> Result<Image, JsError> {
        Ok(Self { image: image::decode(bytes, name).map_err(js_error)?, name: name.into() })
    }

    /// Takes RGBA pixels as a canvas gives them (`ImageData.data`).
    #[wasm_bindgen(js_name = fromRgba)]
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<Image, JsError> {
        Ok(Self { image: image::from_rgba8(width, height, rgba, name).map_err(js_error)?, name: name.into() })
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.image.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.image.height
    }
}

/// A detector being fine-tuned in the page, one step per call.
struct FineTune {
    model: Detector,
    optimizer: ModuleOptimizer,
    /// The template at the detector's input size, with its true landmarks.
    template: LabelledImage,
    epoch: usize,
    step: usize,
    order: Vec<usize>,
    rng: StdRng,
}

#[derive(Default)]
struct State {
    detector: Option<Rc<TplDetector>>,
    extractor: Option<SslModel>,
    template: Option<(GreyImage, Template)>,
    matcher: Option<Rc<SslMatcher>>,
    /// The user's images with their pseudo-labels, at the detector's input size.
    training_set: Vec<LabelledImage>,
    fine_tune: Option<FineTune>,
}

/// The models on one device: the TPL detector, the SSL extractor and the template, and the
/// training set for fine-tuning. Calls must not overlap (the JS wrapper queues them).
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: &'static str,
    state: Rc<RefCell<State>>,
}

#[wasm_bindgen]
impl Engine {
    /// `backend`: "auto", "webgpu" or "cpu".
    pub async fn create(backend: String) -> Result<Engine, JsError> {
        let (device, backend) = device_for(&backend).await?;
        Ok(Self { device, backend, state: Rc::default() })
    }

    /// The backend in use: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.into()
    }

    /// Loads CC2D-TPL detector weights (burnpack bytes, as `cc2d export` writes them).
    #[wasm_bindgen(js_name = loadDetector)]
    pub fn load_detector(&self, bytes: Vec<u8>, source_name: &str) -> Result<(), JsError> {
        let mut state = self.state.borrow_mut();
        let landmarks = state.template.as_ref().map(|(_, t)| t.landmarks.len());
        let detector = TplDetector::from_bytes(bytes, source_name, "small", landmarks, &self.device).map_err(js_error)?;
        state.detector = Some(Rc::new(detector));
        state.fine_tune = None;
        Ok(())
    }

    /// Loads CC2D-SSL extractor weights (the small preset's burnpack bytes).
    #[wasm_bindgen(js_name = loadExtractor)]
    pub fn load_extractor(&self, bytes: Vec<u8>, source_name: &str) -> Result<(), JsError> {
        let config = ssl_config(&bytes, source_name)?;
        let model = weights::from_bytes(SslModel::new(&config, &self.device), bytes, source_name).map_err(js_error)?;
        let mut state = self.state.borrow_mut();
        state.extractor = Some(model);
        state.matcher = None;
        Ok(())
    }

    #[wasm_bindgen(getter, js_name = hasDetector)]
    pub fn has_detector(&self) -> bool {
        self.state.borrow().detector.is_some()
    }

    #[wasm_bindgen(getter, js_name = hasExtractor)]
    pub fn has_extractor(&self) -> bool {
        self.state.borrow().extractor.is_some()
    }

    /// The landmark names results carry: the template's, else the detector's.
    #[wasm_bindgen(js_name = landmarkNames)]
    pub fn landmark_names(&self) -> Vec<String> {
        let state = self.state.borrow();
        match (&state.template, &state.detector) {
            (Some((_, t)), _) => t.names(),
            (None, Some(d)) => d.landmark_names(),
            (None, None) => Vec::new(),
        }
    }

    /// Sets the one annotated example: its image and a template JSON (README, "Data
    /// formats") whose size must be the image's. The landmark count must match the detector.
    #[wasm_bindgen(js_name = setTemplate)]
    pub fn set_template(&self, image: &Image, template_json: &str) -> Result<(), JsError> {
        let template = Template::from_json(template_json, "template").map_err(js_error)?;
        template.check_image(&image.image).map_err(js_error)?;
        let mut state = self.state.borrow_mut();
        if let Some(d) = &state.detector
            && d.landmarks() != template.landmarks.len()
        {
            return Err(JsError::new(&format!(
                "the template has {} landmarks but the detector was trained for {}: mark {} landmarks, or load weights trained for this template",
                template.landmarks.len(),
                d.landmarks(),
                d.landmarks()
            )));
        }
        state.template = Some((image.image.clone(), template));
        state.matcher = None;
        state.training_set.clear();
        state.fine_tune = None;
        Ok(())
    }

    /// CC2D-SSL matching against the template. Resolves to the detection JSON
    /// (`{ image, width, height, landmarks: [{ name, x, y, score }] }`, original pixels).
    #[wasm_bindgen(js_name = "match")]
    pub async fn match_template(&self, image: &Image) -> Result<String, JsError> {
        let (found, names) = self.ssl_locate(&image.image).await?;
        detection_json(image, &names, found)
    }

    /// The TPL detector, with test-time augmentation when `tta`. Resolves to the detection
    /// JSON; each landmark's `score` is its confidence (low: doubtful).
    pub async fn detect(&self, image: &Image, tta: bool) -> Result<String, JsError> {
        let detector = self.state.borrow().detector.clone().ok_or_else(|| JsError::new("no detector weights loaded: call loadDetector first"))?;
        let detector = if tta == detector.tta() { detector } else { Rc::new((*detector).clone().with_tta(tta)) };
        let names = self.landmark_names();
        let (maps, frame) = detector.maps(&image.image, &self.device);
        let found = detector.decode(&read(maps, "detector maps").await?, &frame);
        detection_json(image, &names, found)
    }

    /// Matches the image against the template and keeps it, with the matches as
    /// pseudo-labels, for fine-tuning. Resolves to the detection JSON.
    #[wasm_bindgen(js_name = pseudoLabel)]
    pub async fn pseudo_label(&self, image: &Image) -> Result<String, JsError> {
        let side = self.tpl_side()?;
        let (found, names) = self.ssl_locate(&image.image).await?;
        let input = preprocess(&image.image, [side, side]);
        let landmarks = found.iter().map(|&(p, _)| input.frame.to_model(p)).collect();
        let mut state = self.state.borrow_mut();
        state.training_set.push(LabelledImage { image: input.image, landmarks });
        state.fine_tune = None;
        detection_json(image, &names, found)
    }

    #[wasm_bindgen(getter, js_name = trainingSetSize)]
    pub fn training_set_size(&self) -> usize {
        self.state.borrow().training_set.len()
    }

    #[wasm_bindgen(js_name = clearTrainingSet)]
    pub fn clear_training_set(&self) {
        let mut state = self.state.borrow_mut();
        state.training_set.clear();
        state.fine_tune = None;
    }

    /// Optimisation steps per epoch over the training set.
    #[wasm_bindgen(js_name = stepsPerEpoch)]
    pub fn steps_per_epoch(&self) -> Result<usize, JsError> {
        let state = self.state.borrow();
        let detector = state.detector.as_ref().ok_or_else(|| JsError::new("no detector weights loaded: call loadDetector first"))?;
        Ok(state.training_set.len().div_ceil(detector.config().batch_size))
    }

    /// One fine-tuning step of the detector on the pseudo-labelled images plus the template
    /// (the paper's TPL training, continued from the loaded detector at the learning rate
    /// its training ended with). Resolves to
    /// `{ epoch, step, stepsPerEpoch, loss }`. The result is used by `detect` only after
    /// `finishFineTune`.
    #[wasm_bindgen(js_name = fineTuneStep)]
    pub async fn fine_tune_step(&self, augment: bool) -> Result<String, JsError> {
        let (loss, report) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let detector = state.detector.clone().ok_or_else(|| JsError::new("no detector weights loaded: call loadDetector first"))?;
            let (template_image, template) = state.template.as_ref().ok_or_else(|| JsError::new("no template: call setTemplate first"))?;
            if state.training_set.is_empty() {
                return Err(JsError::new("no pseudo-labelled images: call pseudoLabel on the images to train on first"));
            }
            let config = detector.config();
            let n = state.training_set.len();
            let fine_tune = state.fine_tune.get_or_insert_with(|| {
                let side = config.image_size as u32;
                let input = preprocess(template_image, [side, side]);
                let template = LabelledImage { landmarks: template.points().iter().map(|&p| input.frame.to_model(p)).collect(), image: input.image };
                let (model, optimizer) = trainable(config, Some(detector.model().clone()), None, &self.device);
                let (rng, order) = epoch_order(config.seed, 0, n);
                FineTune { model, optimizer, template, epoch: 0, step: 0, order, rng }
            });
            let steps_per_epoch = n.div_ceil(config.batch_size);
            if fine_tune.step == steps_per_epoch {
                fine_tune.epoch += 1;
                fine_tune.step = 0;
                (fine_tune.rng, fine_tune.order) = epoch_order(config.seed, fine_tune.epoch, n);
            }
            let chunk = fine_tune.order.chunks(config.batch_size).nth(fine_tune.step).expect("a step within the epoch");
            let batch: Vec<&LabelledImage> = chunk.iter().map(|&i| &state.training_set[i]).collect();
            let model = fine_tune.model.clone();
            let device = self.device.clone().autodiff();
            let (model, loss) = training_step(config, model, &mut fine_tune.optimizer, &batch, &fine_tune.template, &mut fine_tune.rng, augment, learning_rate(config, config.epochs + fine_tune.epoch), &device);
            fine_tune.model = model;
            fine_tune.step += 1;
            (loss, (fine_tune.epoch, fine_tune.step, steps_per_epoch))
        };
        let loss = read(loss.reshape([1, 1, 1, 1]), "the loss").await?[0];
        let (epoch, step, steps_per_epoch) = report;
        Ok(format!(r#"{{"epoch":{epoch},"step":{step},"stepsPerEpoch":{steps_per_epoch},"loss":{loss}}}"#))
    }

    /// Makes the fine-tuned detector the one `detect` uses (`keep`), or drops it.
    #[wasm_bindgen(js_name = finishFineTune)]
    pub fn finish_fine_tune(&self, keep: bool) -> Result<(), JsError> {
        let mut state = self.state.borrow_mut();
        let Some(fine_tune) = state.fine_tune.take() else { return Ok(()) };
        if keep {
            let detector = state.detector.as_ref().expect("fine-tuning starts from a detector");
            let mut tuned = TplDetector::new(fine_tune.model.valid(), detector.config().clone());
            tuned.set_landmark_names(detector.landmark_names());
            state.detector = Some(Rc::new(tuned));
        }
        Ok(())
    }

    /// The detector's weights (f16 burnpack with its configuration and landmark names), to
    /// store and load again with `loadDetector`.
    #[wasm_bindgen(js_name = exportDetector)]
    pub fn export_detector(&self) -> Result<Vec<u8>, JsError> {
        let names = self.landmark_names();
        let state = self.state.borrow();
        let detector = state.detector.as_ref().ok_or_else(|| JsError::new("no detector weights loaded: call loadDetector first"))?;
        detector.to_bytes(&names).map_err(js_error)
    }
}

impl Engine {
    fn tpl_side(&self) -> Result<u32, JsError> {
        let state = self.state.borrow();
        let detector = state.detector.as_ref().ok_or_else(|| JsError::new("no detector weights loaded: call loadDetector first"))?;
        Ok(detector.config().image_size as u32)
    }

    /// SSL matching of `query` against the template (the matcher is built on first use).
    async fn ssl_locate(&self, query: &GreyImage) -> Result<(Vec<(Point, f64)>, Vec<String>), JsError> {
        let (matcher, names) = {
            let mut state = self.state.borrow_mut();
            let (template_image, template) = state.template.as_ref().ok_or_else(|| JsError::new("no template: call setTemplate first"))?;
            let names = template.names();
            if state.matcher.is_none() {
                let model = state.extractor.clone().ok_or_else(|| JsError::new("no extractor weights loaded: call loadExtractor first"))?;
                let image_size = SslConfig::preset("small").map_err(js_error)?.image_size;
                let matcher = SslMatcher::new(model, image_size, MatchingConfig::new(), template_image, template, &self.device).map_err(js_error)?;
                state.matcher = Some(Rc::new(matcher));
            }
            (state.matcher.clone().expect("built above"), names)
        };
        let (maps, frame) = matcher.similarity(query, &self.device);
        Ok((matcher.decode(&read(maps, "similarity maps").await?, &frame), names))
    }
}

fn ssl_config(bytes: &[u8], source_name: &str) -> Result<SslConfig, JsError> {
    let metadata = weights::metadata(bytes, source_name).map_err(js_error)?;
    match serde_json::from_str::<SslConfig>(weights::description_of(&metadata)) {
        Ok(config) => Ok(config),
        Err(_) => SslConfig::preset("small").map_err(js_error),
    }
}

fn detection_json(image: &Image, names: &[String], found: Vec<(Point, f64)>) -> Result<String, JsError> {
    serde_json::to_string(&Detection::new(&image.name, image.image.width, image.image.height, names, found)).map_err(js_error)
}
