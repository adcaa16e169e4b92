// The map's projection: the site's local metres frame (x east, y north) onto a canvas (y down). Pure: no DOM.

/** Bounds {minX, minY, maxX, maxY} of points, grown to at least `minSpan` metres on each axis. */
export function bounds(points, minSpan = 20) {
  let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity;
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    minX = Math.min(minX, p.x); maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y); maxY = Math.max(maxY, p.y);
  }
  if (minX === Infinity) return { minX: -minSpan / 2, minY: -minSpan / 2, maxX: minSpan / 2, maxY: minSpan / 2 };
  const grow = (lo, hi) => {
    const missing = Math.max(0, minSpan - (hi - lo)) / 2;
    return [lo - missing, hi + missing];
  };
  [minX, maxX] = grow(minX, maxX);
  [minY, maxY] = grow(minY, maxY);
  return { minX, minY, maxX, maxY };
}

/** A uniform scale and offset that fits `box` into width x height pixels with `margin` pixels around it. */
export function fitView(box, width, height, margin = 40) {
  const spanX = box.maxX - box.minX;
  const spanY = box.maxY - box.minY;
  const scale = Math.max(1e-6, Math.min((width - 2 * margin) / spanX, (height - 2 * margin) / spanY));
  const cx = (box.minX + box.maxX) / 2;
  const cy = (box.minY + box.maxY) / 2;
  return {
    scale,
    toCanvas: (x, y) => ({ x: width / 2 + (x - cx) * scale, y: height / 2 - (y - cy) * scale }),
    toWorld: (px, py) => ({ x: cx + (px - width / 2) / scale, y: cy - (py - height / 2) / scale }),
  };
}

/** A grid step (metres) that puts lines about `pixels` apart: 1, 2, 5, 10, 20, 50, ... */
export function gridStep(scale, pixels = 80) {
  const target = pixels / scale;
  const power = 10 ** Math.floor(Math.log10(target));
  for (const factor of [1, 2, 5, 10]) {
    if (factor * power >= target) return factor * power;
  }
  return 10 * power;
}

/**
 * Where to draw labels that sit to the right of canvas points, so that the labels of points close together (drones
 * parked at one base) overlap neither each other nor the neighbours' icons: a label starts right of every point in
 * its row, and goes down until it clears the labels placed before it. `size` is a label's {width, height}.
 * Returns one {dx, dy} (pixels from its own point) per point, in the order given.
 */
export function labelOffsets(points, size = { width: 110, height: 24 }) {
  const placed = [];
  return points.map((p) => {
    const row = points.filter((q) => Math.abs(q.y - p.y) < size.height && q.x >= p.x && q.x - p.x < size.width);
    const dx = Math.max(...row.map((q) => q.x)) - p.x;
    let dy = 0;
    for (;;) {
      const top = p.y + dy;
      const clash = placed.find((q) => Math.abs(q.x - (p.x + dx)) < size.width && Math.abs(q.y - top) < size.height);
      if (!clash) break;
      dy = clash.y + size.height - p.y;
    }
    placed.push({ x: p.x + dx, y: p.y + dy });
    return { dx, dy };
  });
}
