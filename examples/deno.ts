// Classify the example images with the embedded default model under Deno 2:
//
//     npm run build && deno run --allow-read examples/deno.ts
//
// The same ESM build as Node's (dist/), its wasm kernels beside it; the script ends by itself
// when its work is done.

import { ready, tensor, tidy, F, decodePng, preprocess } from '../dist/index.js';
import { loadDefaultModel } from '../dist/node.js';

await ready(); // the wasm backend, with threads where the runtime allows them
const { model, card } = await loadDefaultModel();
const { size, resize, mean, std } = card.preprocess;
for (const name of ['ankle-boot', 'bag', 'dress', 'sneaker', 't-shirt', 'trouser']) {
  const file = new URL(`./${name}.png`, import.meta.url);
  const image = decodePng(await Deno.readFile(file), file.pathname);
  const x = tensor(preprocess(image, { crop: size, resize, mean, std }).data, [1, 3, size, size]);
  const probs = (await tidy(() => F.softmax(model.call(x), 1)).data()) as Float32Array;
  x.dispose();
  const best = probs.indexOf(Math.max(...probs));
  console.log(`${name}.png: ${card.labels[best]} (${(100 * probs[best]!).toFixed(1)} %)`);
}
