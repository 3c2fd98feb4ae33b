// The `Cc2d` methods that `Cc2dWorker` forwards to its worker, written once: worker.js
// dispatches them and worker-client.js defines them from this list.
//   image / images: the index of the argument holding an image or a list of images (made
//                   transferable before it crosses into the worker);
//   url:            the index of an argument that may be a URL (sent as its string);
//   progress:       the last argument is an options object whose `onProgress` and `signal`
//                   are carried as messages.
/**
 * @typedef {{ image?: number, images?: number, url?: number, progress?: boolean }} Forwarding
 * Every method of the declared API but the lifecycle (`tsc` refuses a missing or extra one):
 * @type {Record<Exclude<keyof import("./index.js").Cc2dMethods, "adapter" | "backendReason" | "dispose">, Forwarding>}
 */
export const FORWARDED = {
  landmarkNames: {},
  setTemplate: { image: 0 },
  addTemplate: { image: 0 },
  trainingSetSize: {},
  clearTrainingSet: {},
  match: { image: 0 },
  detect: { image: 0 },
  decode: { image: 0 },
  adviseTemplate: { images: 0, progress: true },
  pseudoLabel: { images: 0, progress: true },
  fineTune: { images: 0, progress: true },
  exportWeights: {},
  exportModel: {},
  loadWeights: { url: 0 },
};
