//! Browser tests (wasm-bindgen-test in headless Chromium): WebGPU is found and computes what
//! the CPU backend computes; decoding, preprocessing and the NCC baseline give in wasm the
//! landmarks recorded natively. Run by `scripts/test.sh` (see README).
#![cfg(target_arch = "wasm32")]

mod common;

use burn::module::Module;
use burn::tensor::Device;
use common::probe::{ProbeNet, probe_input};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `navigator.gpu.requestAdapter()`'s info, for the log: which adapter the tests ran on.
async fn adapter_info() -> String {
    let get = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    if gpu.is_undefined() {
        return "navigator.gpu is undefined".into();
    }
    let request: js_sys::Function = get(&gpu, "requestAdapter").dyn_into().unwrap();
    let adapter = JsFuture::from(js_sys::Promise::from(request.call0(&gpu).unwrap())).await.unwrap();
    if adapter.is_null() {
        return "requestAdapter() returned null".into();
    }
    let info = get(&adapter, "info");
    ["vendor", "architecture", "device", "description"]
        .iter()
        .map(|k| format!("{k}={}", get(&info, k).as_string().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[wasm_bindgen_test]
async fn webgpu_forward_equals_flex_forward() {
    let info = adapter_info().await;
    console_log!("WebGPU adapter: {info}");
    let gpu = cc2d::web::webgpu_device().await.expect("a WebGPU adapter (Chromium needs --enable-unsafe-webgpu)");
    let cpu = Device::flex();
    let net = ProbeNet::new(&cpu);
    let x = probe_input(32, 24, &cpu);
    let a: Vec<f32> = net.forward(x.clone()).into_data_async().await.unwrap().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = net.to_device(&gpu).forward(x.to_device(&gpu)).into_data_async().await.unwrap().try_to_vec::<f32>().unwrap();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    console_log!("WebGPU vs flex: max |diff| = {diff:e} over {} values ({info})", a.len());
    assert!(diff < 1e-4, "max |diff| = {diff}");
}

#[cfg(cc2d_data)]
#[wasm_bindgen_test]
fn ncc_in_wasm_matches_the_native_record() {
    use cc2d::io::landmarks::Detection;
    let template_bytes: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/001.jpg"));
    let query_bytes: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/151.jpg"));
    let senior = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_senior/001.txt"));
    let junior = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_junior/001.txt"));
    let template = common::isbi_template(senior, junior, 1935, 2400);
    let detector = cc2d::web::NccDetector::new(template_bytes, &template.to_json()).unwrap();
    let found: Detection = serde_json::from_str(&detector.detect(query_bytes, "151.jpg").unwrap()).unwrap();
    let recorded: Detection = serde_json::from_str(common::NCC_FIXTURE).unwrap();
    let d = common::max_distance(&found.points(), &recorded.points());
    console_log!("NCC wasm vs native record: max distance {d:e} px over {} landmarks", found.landmarks.len());
    assert!(d < 1e-3, "wasm NCC moved {d} px from the native record");
}

/// The shipped SSL extractor in the page, on the CPU backend and on WebGPU, finds on image
/// 151 the landmarks recorded natively (within one model pixel, the argmax's grid).
#[cfg(cc2d_data)]
#[wasm_bindgen_test]
async fn ssl_matching_on_cpu_and_webgpu_matches_the_native_record() {
    use cc2d::io::landmarks::{Detection, Point};
    let weights: &[u8] = include_bytes!("../weights/ssl-small.bpk");
    let template_bytes: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/001.jpg"));
    let query_bytes: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/151.jpg"));
    let senior = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_senior/001.txt"));
    let junior = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_junior/001.txt"));
    let template = common::isbi_template(senior, junior, 1935, 2400).to_json();
    let recorded: Vec<Point> = serde_json::from_str(include_str!("fixtures/ssl_001_on_151.json")).unwrap();
    let model_pixel = (1935.0f64 / 384.0).hypot(2400.0 / 384.0);
    for backend in ["cpu", "webgpu"] {
        let detector = cc2d::web::SslDetector::create(backend.into(), weights.to_vec(), template_bytes.to_vec(), template.clone()).await.unwrap();
        assert_eq!(detector.backend(), backend);
        let started = js_sys::Date::now();
        let json = JsFuture::from(detector.locate(query_bytes.to_vec(), "151.jpg".into())).await.unwrap().as_string().unwrap();
        let found: Detection = serde_json::from_str(&json).unwrap();
        let d = common::max_distance(&found.points(), &recorded);
        console_log!("SSL matching in wasm on {backend}: max distance {d:.2} px from the native record ({:.0} ms)", js_sys::Date::now() - started);
        assert!(d <= model_pixel + 1e-6, "{backend}: moved {d} px from the native record");
        // Bad input rejects the promise with a message a web developer can act on.
        let err = JsFuture::from(detector.locate(b"GIF89a...".to_vec(), "clip.gif".into())).await.unwrap_err();
        let message: String = js_sys::Error::from(err).message().into();
        assert!(message.contains("clip.gif") && message.contains("not a supported image"), "{message}");
    }
    let err = cc2d::web::SslDetector::create("quantum".into(), weights.to_vec(), template_bytes.to_vec(), template.clone()).await.err().expect("unknown backend refused");
    let message: String = js_sys::Error::from(JsValue::from(err)).message().into();
    assert!(message.contains("unknown backend"), "{message}");
    let err = cc2d::web::SslDetector::create("cpu".into(), b"truncated".to_vec(), template_bytes.to_vec(), template).await.err().expect("bad weights refused");
    let message: String = js_sys::Error::from(JsValue::from(err)).message().into();
    assert!(message.contains("not a cc2d weights file"), "{message}");
}

/// Under CI the real-data browser test must run: fail if the build did not see the data.
#[cfg(not(cc2d_data))]
#[wasm_bindgen_test]
fn real_data_is_present_under_ci() {
    assert!(option_env!("CI").is_none(), "CI must build the browser tests with the shared data (set CC2D_DATA)");
    console_log!("skipping the real-radiograph browser test: no shared data at build time (set CC2D_DATA)");
}
