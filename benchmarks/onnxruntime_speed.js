// ONNX Runtime's CPU provider on an exported model: ms per image at one batch size.
// Run by inference_vs_peers.py, which exports the model and installs onnxruntime-node:
//   node benchmarks/onnxruntime_speed.js MODEL.onnx BATCH SIZE THREADS REPEAT
// prints one line: "ms_per_image=<number>".
'use strict';
const ort = require('onnxruntime-node');

async function main() {
    const [model, batch, size, threads, repeat] = process.argv.slice(2);
    const b = Number(batch), s = Number(size), r = Number(repeat);
    const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: Number(threads),
        interOpNumThreads: 1,
    });
    const values = new Float32Array(b * 3 * s * s);
    for (let i = 0; i < values.length; ++i) values[i] = Math.sin(i);  // any input: the cost is data-independent
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', values, [b, 3, s, s])};
    for (let i = 0; i < 2; ++i) await session.run(feeds);  // warm-up: the first runs plan and allocate
    const start = process.hrtime.bigint();
    for (let i = 0; i < r; ++i) await session.run(feeds);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`ms_per_image=${(1000 * seconds / r / b).toFixed(3)}`);
}

main().catch((error) => {
    console.error(`onnxruntime_speed: ${error.message}`);
    process.exit(1);
});
