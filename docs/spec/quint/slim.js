// Strips an ITF trace written by quint down to what a replay needs (see README.md, "Traces"):
// drops the variables that are recomputable from the others (msgs = union of every `sent`;
// delivered = the Deliver steps since each replica's last Restart), the ghost variables
// (pps, sigs) and the mbt nondet picks (lastStep names the same choices), and the run's
// wall-clock timestamp, so regenerating a trace gives the same bytes.
// Usage: node slim.js FILE...   (rewrites each FILE in place)
'use strict';
const fs = require('fs');
const DROP = new Set(['msgs', 'delivered', 'pps', 'sigs', 'nondetPicks']);
const base = (name) => name.split('::').pop();
for (const file of process.argv.slice(2)) {
  const t = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete t['#meta'].timestamp;
  delete t['#meta'].description;
  t.vars = t.vars.filter((v) => !DROP.has(base(v)));
  t.states = t.states.map((s) => {
    const out = {};
    for (const [k, v] of Object.entries(s)) if (!DROP.has(base(k))) out[k] = v;
    return out;
  });
  fs.writeFileSync(file, JSON.stringify(t) + '\n');
}
