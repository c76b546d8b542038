// Import and export: download the whole journal (JSON or a Markdown zip), bring one in
// from Vibes, jrnl or Day One with a progress bar and a summary of what came in.
import { html, useState } from '../vendor/preact-htm.js';
import * as api from '../api.js';
import { loadTags, toast } from '../state.js';
import { ErrorText, useAction } from '../ui.js';

const EXPORTS = [
  ['json', 'Everything (JSON)', 'Entries, tags, reminders and webhooks, readable back by any Vibes server.'],
  ['markdown', 'Entries as Markdown (zip)', 'One Markdown file per entry, with its details at the top.'],
];

const IMPORTS = [
  ['vibes', 'Vibes export (.json)', '.json,application/json'],
  ['markdown', 'Vibes Markdown export (.zip)', '.zip,application/zip'],
  ['jrnl', 'jrnl JSON export (.json)', '.json,application/json'],
  ['dayone', 'Day One JSON export (.zip)', '.zip,application/zip'],
];

function save({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Export() {
  const action = useAction();
  const vault = api.unlockedTags().length > 0;
  return html`<section class="card" aria-labelledby="export-title">
    <h2 id="export-title">Export</h2>
    <p class="muted small">${vault
      ? 'Your unlocked vault entries are included, marked with their secret tag.'
      : 'Entries in locked vaults are not included: unlock a vault first to export its entries.'}</p>
    <ul class="list">
      ${EXPORTS.map(([format, label, hint]) => html`<li key=${format} class="item-row">
        <div class="item-main"><strong>${label}</strong><div class="muted small">${hint}</div></div>
        <button disabled=${action.busy} onClick=${action.run(async () => {
          save(await api.download('/export', { format }));
          toast('Your export is downloaded.', { kind: 'success' });
        })}>Download</button>
      </li>`)}
    </ul>
    <${ErrorText} error=${action.error} />
  </section>`;
}

function describeImport(error) {
  const problem = error?.problem || {};
  if (error?.status === 413) return problem.detail || 'The file is too large to import.';
  if (error?.status === 422 && problem.detail) return `Nothing was imported. ${problem.detail}`;
  return api.describe(error);
}

function Summary({ result }) {
  const { imported, skipped } = result;
  const parts = (counts, keys) => keys.filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`);
  const brought = parts(imported, ['journals', 'tags', 'reminders']);
  const left = parts(skipped, ['journals', 'tags', 'reminders', 'media', 'webhooks']);
  return html`<div class="import-summary" role="status">
    <p><strong>Imported:</strong> ${brought.length ? brought.join(', ') : 'nothing new'}.</p>
    ${left.length > 0 && html`<p class="muted small"><strong>Skipped:</strong> ${left.join(', ')}
      (already here, or not importable: media and webhooks).</p>`}
  </div>`;
}

function Import() {
  const [format, setFormat] = useState('vibes');
  const [file, setFile] = useState(null);
  const [progress, setProgress] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState('');
  const busy = progress !== null;
  const accept = IMPORTS.find(([f]) => f === format)[2];
  const submit = async (event) => {
    event.preventDefault();
    if (!file) return;
    setError('');
    setResult(null);
    setProgress(0);
    try {
      const answer = await api.upload('/import', { format }, file, { onProgress: setProgress });
      setResult(answer);
      await loadTags();
      toast('Import finished.', { kind: 'success' });
    } catch (failure) {
      setError(describeImport(failure));
    } finally {
      setProgress(null);
    }
  };
  return html`<form class="card" aria-labelledby="import-title" onSubmit=${submit}>
    <h2 id="import-title">Import</h2>
    <p class="muted small">All of a file comes in, or nothing. Importing the same file twice adds nothing new.</p>
    <label for="import-format">From</label>
    <select id="import-format" value=${format} onChange=${(e) => setFormat(e.currentTarget.value)}>
      ${IMPORTS.map(([f, label]) => html`<option key=${f} value=${f}>${label}</option>`)}
    </select>
    <label for="import-file">File</label>
    <input id="import-file" type="file" accept=${accept} required onChange=${(e) => setFile(e.currentTarget.files[0] || null)} />
    ${busy && html`<label for="import-progress">Uploading…</label>
      <progress id="import-progress" max="1" value=${progress}>${Math.round(progress * 100)}%</progress>`}
    <${ErrorText} error=${error} />
    ${result && html`<${Summary} result=${result} />`}
    <div class="actions"><button class="primary" type="submit" disabled=${busy || !file}>Import</button></div>
  </form>`;
}

export default function Portability() {
  return html`<section aria-labelledby="portability-title">
    <div class="page-head"><h1 id="portability-title">Import and export</h1></div>
    <div class="stack">
      <${Export} />
      <${Import} />
    </div>
  </section>`;
}
