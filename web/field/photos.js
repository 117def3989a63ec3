// Photos 照片 for one step (a report, a move): taken or chosen on the phone, shown as
// thumbnails before sending and removable. They are copied into Blobs as soon as they are
// picked, so they can go into the queue with their write (IndexedDB stores Blobs) and outlive
// the page; queue.js sends them as one GraphQL multipart request.

import { escapeHtml } from '/static/util.js';

export const MAX_PHOTOS = 5;  // the server's limit for one step (resolvers/photos.py)

// Object URLs of the thumbnails shown in `element`, let go when it is drawn again.
const shown = new WeakMap();

// Draws `photos` ({blob, name, type}) as thumbnails in the list `element`; `extraHtml(i)`
// adds to each one's row (a button).
export function drawThumbnails(element, photos, extraHtml) {
  for (const url of shown.get(element) ?? []) URL.revokeObjectURL(url);
  const urls = photos.map((p) => URL.createObjectURL(p.blob));
  shown.set(element, urls);
  element.innerHTML = photos.map((p, i) => `<li class="thumb" data-index="${escapeHtml(i)}">
    <img src="${escapeHtml(urls[i])}" alt="照片 ${escapeHtml(i + 1)}：${escapeHtml(p.name)}">${
    extraHtml(i)}</li>`).join('');
}

// The picker in `element` (an empty fieldset): a file input that opens the camera, and the
// photos picked so far (at first `photos`, those of a step being redone).
export class Picker {
  constructor(element, photos = []) {
    this.photos = [...photos];
    element.innerHTML = `<legend>照片（最多 ${MAX_PHOTOS} 张）</legend>
      <label class="pick">拍照/选择照片
        <input type="file" accept="image/*" capture="environment" multiple></label>
      <ol class="thumbs"></ol>
      <p class="error" role="alert"></p>`;
    this.input = element.querySelector('input');
    this.list = element.querySelector('.thumbs');
    this.error = element.querySelector('.error');
    this.input.addEventListener('change', () => this.pick());
    this.list.addEventListener('click', (event) => {
      const index = event.target.dataset.remove;
      if (index === undefined) return;
      this.photos.splice(Number(index), 1);
      this.draw();
    });
    this.draw();
  }

  async pick() {
    const files = [...this.input.files];
    this.input.value = '';  // the same photo may be picked again after it was removed
    const room = MAX_PHOTOS - this.photos.length;
    this.error.textContent = files.length > room ? `最多 ${MAX_PHOTOS} 张照片，多出的未添加` : '';
    for (const file of files.slice(0, Math.max(room, 0))) {
      // A copy of the bytes: a camera's file may be gone by the time the write is sent.
      const blob = new Blob([await file.arrayBuffer()], { type: file.type });
      this.photos.push({ blob, name: file.name, type: file.type });
    }
    this.draw();
  }

  draw() {
    drawThumbnails(this.list, this.photos,
      (i) => `<button type="button" data-remove="${i}" aria-label="删除照片 ${i + 1}">删除</button>`);
    this.list.parentElement.dataset.count = String(this.photos.length);
  }

  clear() {
    this.photos = [];
    this.error.textContent = '';
    this.draw();
  }
}
