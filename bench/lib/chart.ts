/**
 * bench/results/latest.svg, written by hand: one bar per target, each on its
 * own scale, with the target drawn as a dashed line; green meets it, red not.
 */
import type { Results } from './results.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(r: Results): string {
  const rowH = 36;
  const labelW = 430;
  const barW = 400;
  const top = 70;
  const width = labelW + barW + 110;
  const height = top + r.targets.length * rowH + 30;
  const passed = r.targets.filter((t) => t.pass).length;
  const el: string[] = [];
  el.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`);
  el.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  el.push(`<text x="16" y="26" font-size="17" font-weight="600">guacamole-gateway bench: ${passed}/${r.targets.length} targets met</text>`);
  el.push(`<text x="16" y="46" fill="#555">${esc(`${r.date} · ${r.machine.cpus}× ${r.machine.cpu} · node ${r.machine.node} · bar = measured, dashed = target`)}</text>`);
  r.targets.forEach((t, i) => {
    const y = top + i * rowH;
    const max = Math.max(t.value, t.target, 1e-9) * 1.2;
    const w = Math.max(1, (Math.max(0, t.value) / max) * barW);
    const tx = labelW + (t.target / max) * barW;
    const color = t.pass ? '#2e9e44' : '#d64541';
    const fmt = (v: number): string => `${v.toFixed(t.unit === 'x' ? 2 : Math.abs(v) < 10 ? 2 : 0)}${t.unit === 'x' ? '×' : ' ' + t.unit}`;
    if (i % 2 === 0) el.push(`<rect x="0" y="${y - 4}" width="${width}" height="${rowH}" fill="#f6f7f9"/>`);
    el.push(`<text x="16" y="${y + 15}">${esc(t.label)}</text>`);
    el.push(`<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="18" rx="2" fill="${color}"/>`);
    el.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}" fill="#222">${esc(fmt(t.value))}</text>`);
    el.push(`<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${y - 2}" y2="${y + rowH - 5}" stroke="#222" stroke-width="1.5" stroke-dasharray="3,2"/>`);
    el.push(`<text x="${(tx + 3).toFixed(1)}" y="${y + rowH - 6}" font-size="10" fill="#444">${esc(`${t.cmp === '>=' ? '≥' : '≤'} ${fmt(t.target)}`)}</text>`);
    el.push(`<text x="${labelW + barW + 50}" y="${y + 15}" font-weight="600" fill="${color}">${t.pass ? 'PASS' : 'MISS'}</text>`);
  });
  el.push('</svg>');
  return el.join('\n') + '\n';
}
