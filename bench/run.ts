// `npm run bench [-- <suite>] [suite options]`: a small dispatcher over the benchmark suites.
//   npm run bench                 every suite with its defaults
//   npm run bench -- e2e …        end to end vs onnxruntime-web (bench/e2e.ts; options there)
//   npm run bench -- kernels …    kernel micro-benchmarks (bench/kernels.ts)
//   npm run bench -- train …      a training step vs PyTorch CPU (bench/train.ts)
// A suite is a module in bench/ exporting `main(argv: string[]): Promise<void>`.

const SUITES = ['kernels', 'e2e', 'train'] as const;

interface Suite {
  main(argv: string[]): Promise<void>;
}

async function load(name: string): Promise<Suite | null> {
  const path = `./${name}.js`;
  try {
    return (await import(path)) as Suite;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`${name}.js`)) return null;
    throw e;
  }
}

async function main(argv: string[]): Promise<void> {
  const first = argv[0];
  if (first?.startsWith('-')) throw new Error(`name a suite before its options, e.g. 'npm run bench -- e2e ${argv.join(' ')}' (suites: ${SUITES.join(', ')})`);
  const chosen = first ? [first] : [...SUITES];
  const rest = argv.slice(1);
  for (const name of chosen) {
    if (!(SUITES as readonly string[]).includes(name)) throw new Error(`unknown suite '${name}' (suites: ${SUITES.join(', ')})`);
    const suite = await load(name);
    if (!suite) {
      console.log(`bench: no '${name}' suite yet (bench/${name}.ts)`);
      continue;
    }
    console.log(`\n== ${name} ==`);
    await suite.main(rest);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench: ${(e as Error)?.message ?? String(e)}`);
    process.exit(1);
  },
);
