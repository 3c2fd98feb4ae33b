//! The engine the page drives: the detector, the extractor and the template on one device,
//! the training set, and a fine-tuning in progress.
//!
//! Built twice: the inference module (detection, matching, pseudo-labelling) and, with the
//! `train` feature, the training module (the same engine plus fine-tuning) that the package
//! loads on the first `fineTune`, moving the engine's state over with `exportSession` /
//! `importSession`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::config::{MatchingConfig, Preset, TplConfig};
use crate::io::image::GreyImage;
use crate::io::landmarks::{Detection, Point, Template};
use crate::locate::{AtScale, Locator, PhysicalFrame};
use crate::orientation::{OrientationCheck, Search};
use crate::ssl::SslModel;
use crate::ssl::matching::SslMatcher;
use crate::tpl::detect::TplDetector;
#[cfg(feature = "train")]
use crate::tpl::train::{TplTrainer, trainable};
use crate::tpl::training_set::LabelledImage;
#[cfg(feature = "train")]
use crate::training::StepReport;
use crate::web::Rejection;
use crate::web::device::{device_for, read, yield_to_event_loop};
use crate::web::image::Image;

/// A fine-tuning in progress, and the schedule epoch it began at (its reports count from 0).
#[cfg(feature = "train")]
struct FineTune {
    trainer: TplTrainer,
    first_epoch: usize,
}

#[derive(Default)]
struct State {
    /// Shared with a running `detect` (calls are queued, but a detect holds it across an await).
    detector: Option<Rc<TplDetector>>,
    extractor: Option<(SslModel, usize)>,
    template: Option<(GreyImage, Template)>,
    /// Few-shot: more annotated images, the template's landmarks in the same order.
    more_templates: Vec<(GreyImage, Template)>,
    matcher: Option<Rc<SslMatcher>>,
    /// The user's images with their pseudo-labels, at the detector's input size.
    training_set: Vec<LabelledImage>,
    #[cfg(feature = "train")]
    fine_tune: Option<FineTune>,
}

/// What the page gave an engine, but for the extractor's weights (which the page holds):
/// moved from the inference module's engine into the training module's (postcard bytes).
/// The detector travels in f32 and the images as they are held, so the move changes nothing.
#[derive(Serialize, Deserialize)]
struct Session<'a> {
    /// Burnpack bytes, f32.
    detector: Option<Vec<u8>>,
    /// The template and the added ones: image and template JSON (postcard cannot skip
    /// fields, which the template's serde attributes do).
    templates: Vec<(Cow<'a, GreyImage>, String)>,
    training_set: Cow<'a, [LabelledImage]>,
}

impl State {
    fn detector(&self) -> Result<&Rc<TplDetector>, Rejection> {
        self.detector.as_ref().ok_or_else(|| match &self.template {
            Some((_, t)) => Rejection::not_ready(&format!(
                "no detector for the template's {} landmarks yet: fine-tune one (pseudoLabel or fineTune with images), or load weights trained for them",
                t.landmarks.len()
            )),
            None => Rejection::not_ready("no detector weights loaded: call loadDetector first"),
        })
    }

    /// The detector's training configuration: the loaded detector's, else (a fresh detector
    /// for the template's landmarks) the small preset's.
    fn training_config(&self) -> Result<TplConfig, Rejection> {
        match (&self.detector, &self.template) {
            (Some(d), _) => Ok(d.config().clone()),
            (None, Some((_, t))) => Ok(TplConfig::preset(Preset::Small, t.landmarks.len())),
            (None, None) => Err(Rejection::not_ready("no detector weights loaded: call loadDetector first")),
        }
    }

    fn extractor(&self) -> Result<&(SslModel, usize), Rejection> {
        self.extractor.as_ref().ok_or_else(|| Rejection::not_ready("no extractor weights loaded: call loadExtractor first"))
    }

    fn template(&self) -> Result<&(GreyImage, Template), Rejection> {
        self.template.as_ref().ok_or_else(|| Rejection::not_ready("no template: call setTemplate first"))
    }

    /// The training set changed or a detector was loaded: a fine-tuning starts again.
    fn reset_training(&mut self) {
        #[cfg(feature = "train")]
        {
            self.fine_tune = None;
        }
    }
}

/// The models on one device: the TPL detector, the SSL extractor and the template, and the
/// training set for fine-tuning. Calls must not overlap (the JS wrapper queues them).
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: &'static str,
    state: RefCell<State>,
}

#[wasm_bindgen]
impl Engine {
    /// `backend`: "auto", "webgpu" or "cpu".
    pub async fn create(backend: String) -> Result<Engine, Rejection> {
        let (device, backend) = device_for(&backend).await?;
        Ok(Self { device, backend, state: RefCell::default() })
    }

    /// The backend in use: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.into()
    }

    /// Loads CC2D-TPL detector weights (burnpack bytes, as `cc2d export` writes them).
    #[wasm_bindgen(js_name = loadDetector)]
    pub fn load_detector(&self, bytes: Vec<u8>, source_name: &str) -> Result<(), Rejection> {
        let mut state = self.state.borrow_mut();
        let landmarks = state.template.as_ref().map(|(_, t)| t.landmarks.len());
        let detector = TplDetector::from_bytes(bytes, source_name, Preset::Small, landmarks, &self.device)?;
        state.detector = Some(Rc::new(detector));
        state.reset_training();
        Ok(())
    }

    /// Loads CC2D-SSL extractor weights (burnpack bytes; the configuration is read from them).
    #[wasm_bindgen(js_name = loadExtractor)]
    pub fn load_extractor(&self, bytes: Vec<u8>, source_name: &str) -> Result<(), Rejection> {
        let (model, config) = SslModel::from_bytes(bytes, source_name, Preset::Small, &self.device)?;
        let mut state = self.state.borrow_mut();
        state.extractor = Some((model, config.image_size));
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

    /// Sets the one annotated example: its image and a template JSON (docs/cli.md, "Data formats")
    /// whose size must be the image's. A landmark set of another size than the
    /// loaded detector's (the user's own landmarks) drops that detector: a fresh one, its
    /// encoder from the SSL extractor and a new head, is trained by the first fine-tuning.
    #[wasm_bindgen(js_name = setTemplate)]
    pub fn set_template(&self, image: &Image, template_json: &str) -> Result<(), Rejection> {
        let template = Template::from_json(template_json, "template")?;
        template.check_image(&image.image)?;
        if template.landmarks.len() < 2 {
            return Err(Rejection::from(crate::Error::LandmarkCount { source_name: "the template".into(), count: template.landmarks.len(), expected: 2 }));
        }
        let mut state = self.state.borrow_mut();
        if state.detector.as_ref().is_some_and(|d| d.landmarks() != template.landmarks.len()) {
            state.detector = None;
        }
        state.template = Some((image.image.clone(), template));
        state.more_templates.clear();
        state.matcher = None;
        state.training_set.clear();
        state.reset_training();
        Ok(())
    }

    /// Few-shot: another annotated image, labelled with the same landmarks in the same
    /// order as the template. Matching then fuses every template's answer per landmark, and
    /// fine-tuning trains on it with these labels: a pseudo-labelled image given here (a
    /// corrected one) is labelled from now on, not trained on twice.
    #[wasm_bindgen(js_name = addTemplate)]
    pub fn add_template(&self, image: &Image, template_json: &str) -> Result<(), Rejection> {
        let template = Template::from_json(template_json, "template")?;
        template.check_image(&image.image)?;
        let mut state = self.state.borrow_mut();
        let names = state.template()?.1.names();
        if template.names() != names {
            return Err(Rejection::from(crate::Error::LandmarkCount {
                source_name: format!("the added template (it must label the template's landmarks, in order: {}…)", names.iter().take(3).cloned().collect::<Vec<_>>().join(", ")),
                count: template.landmarks.len(),
                expected: names.len(),
            }));
        }
        let side = state.training_config()?.image_size as u32;
        let labelled = LabelledImage::new(&image.image, &template.points(), side);
        // The same image resizes to the same pixels: a pseudo-labelled copy takes the labels.
        match state.training_set.iter_mut().find(|l| l.image.pixels == labelled.image.pixels) {
            Some(pseudo) => *pseudo = labelled,
            None => state.training_set.push(labelled),
        }
        state.reset_training();
        state.more_templates.push((image.image.clone(), template));
        state.matcher = None;
        Ok(())
    }

    /// How many annotated images matching uses (the template and the added ones).
    #[wasm_bindgen(getter, js_name = templateCount)]
    pub fn template_count(&self) -> usize {
        let state = self.state.borrow();
        usize::from(state.template.is_some()) + state.more_templates.len()
    }

    /// Template advice: the image's label-free descriptor (the extractor's coarse embeddings,
    /// pooled; [`crate::ssl::advice`]), for [`rank_templates`].
    #[wasm_bindgen(js_name = adviceDescriptor)]
    pub async fn advice_descriptor(&self, image: &Image) -> Result<Vec<f32>, Rejection> {
        let (model, image_size) = self.state.borrow().extractor()?.clone();
        let pooled = crate::ssl::advice::pooled_levels(&model, &image.image, image_size, &self.device);
        Ok(crate::ssl::advice::unit_length(read(pooled, "the descriptor").await?))
    }

    /// CC2D-SSL matching against the template. Resolves to the detection JSON
    /// (`{ image, width, height, landmarks: [{ name, x, y, score }] }`, original pixels).
    #[wasm_bindgen(js_name = "match")]
    pub async fn match_template(&self, image: &Image) -> Result<String, Rejection> {
        let matcher = self.matcher_then_yield().await?;
        detection_json(image, &matcher.landmark_names(), locate(&*matcher, image, matcher.physical_frame(), &self.device).await?)
    }

    /// The TPL detector, with test-time augmentation when `tta`. Resolves to the detection
    /// JSON; each landmark's `score` is its confidence (low: doubtful).
    pub async fn detect(&self, image: &Image, tta: bool) -> Result<String, Rejection> {
        let (detector, template_frame) = {
            let state = self.state.borrow();
            (state.detector()?.clone(), state.template.as_ref().and_then(|(_, t)| PhysicalFrame::of_template(t)))
        };
        let detector = if tta == detector.tta() { detector } else { Rc::new((*detector).clone().with_tta(tta)) };
        let names = self.landmark_names();
        let frame = detector.physical_frame().or(template_frame);
        // Upright, and every other way round when the detector is unsure of it.
        let check = OrientationCheck::for_detector(detector.calibration().is_some());
        let mut search = Search::new(check, [image.image.width, image.image.height], locate(&*detector, image, frame, &self.device).await?);
        while let Some(o) = search.next() {
            let turned = Image { image: o.apply(&image.image), name: image.name.clone(), spacing_mm: image.spacing_mm };
            search.add(o, locate(&*detector, &turned, frame, &self.device).await?);
        }
        let found = search.finish();
        let detection = Detection::new(&image.name, image.image.width, image.image.height, &names, found.found.clone()).with_spacing(image.spacing_mm).with_orientation(&found);
        serde_json::to_string(&detection).map_err(Rejection::internal)
    }

    /// Matches the image against the template and keeps it, with the matches as
    /// pseudo-labels, for fine-tuning. Resolves to the detection JSON.
    #[wasm_bindgen(js_name = pseudoLabel)]
    pub async fn pseudo_label(&self, image: &Image) -> Result<String, Rejection> {
        let side = self.state.borrow().training_config()?.image_size as u32;
        let matcher = self.matcher_then_yield().await?;
        let found = locate(&*matcher, image, matcher.physical_frame(), &self.device).await?;
        let points: Vec<Point> = found.iter().map(|&(p, _)| p).collect();
        let mut state = self.state.borrow_mut();
        state.training_set.push(LabelledImage::new(&image.image, &points, side));
        state.reset_training();
        detection_json(image, &matcher.landmark_names(), found)
    }

    #[wasm_bindgen(getter, js_name = trainingSetSize)]
    pub fn training_set_size(&self) -> usize {
        self.state.borrow().training_set.len()
    }

    #[wasm_bindgen(js_name = clearTrainingSet)]
    pub fn clear_training_set(&self) {
        let mut state = self.state.borrow_mut();
        state.training_set.clear();
        state.reset_training();
    }

    /// Optimisation steps per epoch over the training set.
    #[wasm_bindgen(js_name = stepsPerEpoch)]
    pub fn steps_per_epoch(&self) -> Result<usize, Rejection> {
        let state = self.state.borrow();
        Ok(state.training_set.len().div_ceil(state.training_config()?.batch_size))
    }

    /// One fine-tuning step of the detector on the pseudo-labelled images plus the template
    /// (the paper's TPL training, continued from the loaded detector at the learning rate
    /// its training ended with). Resolves to the step's report as JSON
    /// (`{ epoch, step, stepsPerEpoch, loss, learningRate }`, epoch and step from 0). The
    /// result is used by `detect` only after `finishFineTune`.
    #[cfg(feature = "train")]
    #[wasm_bindgen(js_name = fineTuneStep)]
    pub async fn fine_tune_step(&self, augment: bool) -> Result<String, Rejection> {
        let (pending, first_epoch) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            if state.training_set.is_empty() {
                return Err(Rejection::not_ready("no pseudo-labelled images: call pseudoLabel on the images to train on first"));
            }
            let fine_tune = match &mut state.fine_tune {
                Some(f) => f,
                None => {
                    let config = state.training_config()?;
                    let (template_image, template) = state.template()?;
                    let template = LabelledImage::new(template_image, &template.points(), config.image_size as u32);
                    // Continue the loaded detector at the learning rate its training ended
                    // with; a fresh one (the user's own landmarks) starts from the SSL
                    // encoder at the schedule's beginning.
                    let (model, optimizer, first_epoch) = match &state.detector {
                        Some(d) => {
                            let (m, o) = trainable(&config, Some(d.model().clone()), None, &self.device);
                            (m, o, config.epochs)
                        }
                        None => {
                            let (extractor, _) = state.extractor()?;
                            let (m, o) = trainable(&config, None, Some(extractor.image_encoder()), &self.device);
                            (m, o, 0)
                        }
                    };
                    state.fine_tune.insert(FineTune { trainer: TplTrainer::new(config, model, optimizer, template, first_epoch), first_epoch })
                }
            };
            fine_tune.trainer.set_augmentation(augment);
            (fine_tune.trainer.step(&state.training_set, &self.device), fine_tune.first_epoch)
        };
        let loss = read(pending.loss.clone(), "the loss").await?[0];
        let report: StepReport = pending.report(f64::from(loss));
        let report = StepReport { epoch: report.epoch - first_epoch, ..report };
        serde_json::to_string(&report).map_err(Rejection::internal)
    }

    /// Whether a fine-tuning was begun and neither finished nor dropped since: a cancelled one
    /// waits here, with its model, optimiser and place in the schedule, to be resumed by more
    /// `fineTuneStep`s (anything that changes the training set or the detector drops it).
    #[cfg(feature = "train")]
    #[wasm_bindgen(getter, js_name = fineTuneInProgress)]
    pub fn fine_tune_in_progress(&self) -> bool {
        self.state.borrow().fine_tune.is_some()
    }

    /// Makes the fine-tuned detector the one `detect` uses (`keep`), or drops it.
    #[cfg(feature = "train")]
    #[wasm_bindgen(js_name = finishFineTune)]
    pub fn finish_fine_tune(&self, keep: bool) -> Result<(), Rejection> {
        let mut state = self.state.borrow_mut();
        let Some(fine_tune) = state.fine_tune.take() else { return Ok(()) };
        if keep {
            let config = state.training_config()?;
            let names = match (&state.template, &state.detector) {
                (Some((_, t)), _) => t.names(),
                (None, Some(d)) => d.landmark_names(),
                (None, None) => Vec::new(),
            };
            let mut tuned = TplDetector::new(fine_tune.trainer.detector(), config);
            tuned.set_landmark_names(names);
            state.detector = Some(Rc::new(tuned));
        }
        Ok(())
    }

    /// The detector's weights (f16 burnpack with its configuration and landmark names), to
    /// store and load again with `loadDetector`.
    #[wasm_bindgen(js_name = exportDetector)]
    pub fn export_detector(&self) -> Result<Vec<u8>, Rejection> {
        let names = self.landmark_names();
        let state = self.state.borrow();
        Ok(state.detector()?.to_bytes(&names, true)?)
    }

    /// Whether this is the training module's engine (it can `fineTuneStep`).
    #[wasm_bindgen(getter, js_name = canTrain)]
    pub fn can_train(&self) -> bool {
        cfg!(feature = "train")
    }

    /// The detector, the templates and the training set, for `importSession` in another
    /// engine (the training module's): everything but the extractor and a fine-tuning.
    #[wasm_bindgen(js_name = exportSession)]
    pub fn export_session(&self) -> Result<Vec<u8>, Rejection> {
        let state = self.state.borrow();
        let detector = state.detector.as_ref().map(|d| d.to_bytes(&d.landmark_names(), false)).transpose()?;
        let templates = state.template.iter().chain(&state.more_templates).map(|(image, t)| (Cow::Borrowed(image), t.to_json())).collect();
        let session = Session { detector, templates, training_set: Cow::Borrowed(&state.training_set) };
        postcard::to_allocvec(&session).map_err(Rejection::internal)
    }

    /// Replaces this engine's detector, templates and training set with another engine's
    /// (`exportSession`); the extractor stays. Checked as if given one by one.
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(&self, bytes: &[u8]) -> Result<(), Rejection> {
        let bad = |why: String| Rejection::from(crate::Error::Invalid(format!("not an engine session: {why}")));
        let session: Session = postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        let mut templates = Vec::with_capacity(session.templates.len());
        for (image, json) in session.templates {
            let image = image.into_owned();
            if image.pixels.len() != image.width as usize * image.height as usize {
                return Err(bad("an image's pixels do not fill it".into()));
            }
            let template = Template::from_json(&json, "the session's template")?;
            template.check_image(&image)?;
            templates.push((image, template));
        }
        let landmarks = templates.first().map(|(_, t)| t.landmarks.len());
        let detector = match session.detector {
            Some(bytes) => Some(Rc::new(TplDetector::from_bytes(bytes, "the session's detector", Preset::Small, landmarks, &self.device)?)),
            None => None,
        };
        let training_set = session.training_set.into_owned();
        if let Some(config) = detector.as_ref().map(|d| d.config()) {
            for (i, l) in training_set.iter().enumerate() {
                l.check(config, &format!("the session's training image {i}"))?;
            }
        }
        let mut templates = templates.into_iter();
        let mut state = self.state.borrow_mut();
        state.detector = detector;
        state.template = templates.next();
        state.more_templates = templates.collect();
        state.training_set = training_set;
        state.matcher = None;
        state.reset_training();
        Ok(())
    }
}

impl Engine {
    /// [`Self::matcher`]; on WebGPU a newly built one (the templates' embeddings launched)
    /// is followed by a turn of the event loop before the query's forward is launched.
    async fn matcher_then_yield(&self) -> Result<Rc<SslMatcher>, Rejection> {
        let built = self.state.borrow().matcher.is_none();
        let matcher = self.matcher()?;
        if built && self.backend == "webgpu" {
            yield_to_event_loop().await;
        }
        Ok(matcher)
    }

    /// The SSL matcher for the template (built on first use).
    fn matcher(&self) -> Result<Rc<SslMatcher>, Rejection> {
        let mut state = self.state.borrow_mut();
        if let Some(m) = &state.matcher {
            return Ok(m.clone());
        }
        let (template_image, template) = state.template()?;
        let (model, image_size) = state.extractor()?.clone();
        let mut matcher = SslMatcher::new(model, image_size, MatchingConfig::new(), template_image, template, &self.device)?;
        for (image, t) in &state.more_templates {
            matcher = matcher.with_template(image, t, &self.device)?;
        }
        let matcher = Rc::new(matcher);
        state.matcher = Some(matcher.clone());
        Ok(matcher)
    }
}

/// `maps`, an asynchronous read-back, `decode`: [`Locator::locate_at_scale`] as a browser
/// must do it (the image shown at `physical_frame`'s scale where its spacing is known).
async fn locate(locator: &impl Locator<Maps = Tensor<4>>, image: &Image, physical_frame: Option<PhysicalFrame>, device: &Device) -> Result<Vec<(Point, f64)>, Rejection> {
    let at = AtScale::new(&image.image, image.spacing_mm, physical_frame);
    let (maps, frame) = locator.maps(&at.image, device);
    Ok(at.back(locator.decode(&read(maps, "the maps").await?, &frame)))
}

fn detection_json(image: &Image, names: &[String], found: Vec<(Point, f64)>) -> Result<String, Rejection> {
    serde_json::to_string(&Detection::new(&image.name, image.image.width, image.image.height, names, found).with_spacing(image.spacing_mm)).map_err(Rejection::internal)
}

/// Template advice over `count` images' descriptors (`adviceDescriptor`, concatenated): JSON
/// `[{ index, score }]`, the most typical image (the one to annotate first) first.
#[wasm_bindgen(js_name = rankTemplates)]
pub fn rank_templates(descriptors: Vec<f32>, count: usize) -> Result<String, Rejection> {
    if count == 0 || !descriptors.len().is_multiple_of(count) {
        return Err(Rejection::from(crate::Error::Invalid(format!("{} descriptor values do not split into {count} images", descriptors.len()))));
    }
    let each: Vec<Vec<f32>> = descriptors.chunks(descriptors.len() / count).map(<[f32]>::to_vec).collect();
    let ranked: Vec<serde_json::Value> = crate::ssl::advice::rank(&each).into_iter().map(|(index, score)| serde_json::json!({ "index": index, "score": score })).collect();
    serde_json::to_string(&ranked).map_err(Rejection::internal)
}
