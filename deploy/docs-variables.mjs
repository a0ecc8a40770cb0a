// npm run docs:variables: writes the configuration table of
// docs/operations.md (between its variables markers) from the parser's own
// list (renderVariableTable); a unit test fails while the two differ.
import fs from 'node:fs';
import { renderVariableTable } from '@vio4wd/common';

const file = new URL('../docs/operations.md', import.meta.url);
const doc = fs.readFileSync(file, 'utf8');
const re = /(<!-- variables:begin -->\n)[\s\S]*?(\n<!-- variables:end -->)/;
if (!re.test(doc)) throw new Error('docs/operations.md: no variables markers');
fs.writeFileSync(file, doc.replace(re, (_m, a, b) => `${a}${renderVariableTable()}${b}`));
