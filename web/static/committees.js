// Compounds coloured by their owners' committee 业委会: none, below the 60% party share of its
// leader seats, or in order; read from `ownersCommitteeCompliance` for staff and planners.

import { graphql } from './api.js';
import { readsStaffLayers } from './session.js';
import { $, escapeHtml, number } from './util.js';

const QUERY = `{ ownersCommitteeCompliance { compoundCount committeeCount
  compoundsWithoutCommittee { code } committeesBelowPartyShare { compound { code } } } }`;
export const COMMITTEE_COLOURS = { NONE: '#d7301f', BELOW: '#fc8d59', OK: '#1a9850' };
const LABELS = { NONE: '未成立业委会', BELOW: '党员比例低于 60%', OK: '合规' };

let marked = [];

function clear(map) {
  for (const code of marked) {
    map.removeFeatureState({ source: 'compounds', sourceLayer: 'compounds', id: code }, 'committee');
  }
  marked = [];
}

function legend(box, c) {
  const itemsHtml = Object.entries(LABELS).map(([k, label]) => `<li><span class="dot" `
    + `style="background:${COMMITTEE_COLOURS[k]}"></span>${escapeHtml(label)}</li>`).join('');
  box.innerHTML = `<p>${number(c.committeeCount)} / ${number(c.compoundCount)} 个小区已成立业委会</p>`
    + `<ul>${itemsHtml}</ul>`;
}

// Called when the layer is switched on, and again when who is signed in changes.
export async function refresh(map) {
  const box = $('committee-legend');
  clear(map);
  if (!readsStaffLayers(box)) return;
  try {
    const c = (await graphql(QUERY)).ownersCommitteeCompliance;
    const states = new Map(c.compoundsWithoutCommittee.map((k) => [k.code, 'NONE']));
    for (const k of c.committeesBelowPartyShare) states.set(k.compound.code, 'BELOW');
    for (const [code, committee] of states) {
      map.setFeatureState({ source: 'compounds', sourceLayer: 'compounds', id: code }, { committee });
      marked.push(code);
    }
    legend(box, c);
    box.dataset.state = 'loaded';
  } catch (error) {
    box.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
    box.dataset.state = 'error';
  }
}
