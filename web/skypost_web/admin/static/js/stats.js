// Numbers behind the charts: deliveries per hour and the delivery time distribution. Pure: no DOM.
import { DELIVERY, toSec } from "./model.js";

/**
 * When a delivery's parcel reached its cell (s, ROS time), or NaN when not (yet) known.
 * A record is a DeliveryStatus plus `delivered_at` that the store fills from transitions and histories.
 */
export function deliveredAt(record) {
  if (Number.isFinite(record.delivered_at)) return record.delivered_at;
  if (record.state === DELIVERY.AWAITING_PICKUP) return toSec(record.updated);
  return NaN;
}

/** `hours` one-hour bins ending at `now` (s): [{start, end, count}], oldest first. */
export function deliveriesPerHour(records, now, hours = 12) {
  const end = Math.ceil(now / 3600) * 3600;
  const bins = Array.from({ length: hours }, (_, i) => ({ start: end - (hours - i) * 3600,
    end: end - (hours - i - 1) * 3600, count: 0 }));
  for (const record of records) {
    const t = deliveredAt(record);
    if (!Number.isFinite(t)) continue;
    const index = Math.floor((t - bins[0].start) / 3600);
    if (index >= 0 && index < hours) bins[index].count += 1;
  }
  return bins;
}

/** Seconds from creation to the parcel in its cell, for every delivery where both are known. */
export function deliveryTimes(records) {
  const times = [];
  for (const record of records) {
    const t = deliveredAt(record) - toSec(record.created);
    if (Number.isFinite(t) && t >= 0) times.push(t);
  }
  return times;
}

const WIDTHS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/** A histogram with a round bin width giving at most `maxBins` bins: {width, bins: [{from, to, count}]}. */
export function histogram(values, maxBins = 12) {
  if (!values.length) return { width: 60, bins: [] };
  const max = Math.max(...values);
  const width = WIDTHS.find((w) => Math.floor(max / w) + 1 <= maxBins) || WIDTHS[WIDTHS.length - 1];
  const count = Math.min(maxBins, Math.floor(max / width) + 1);
  const bins = Array.from({ length: count }, (_, i) => ({ from: i * width, to: (i + 1) * width, count: 0 }));
  for (const v of values) bins[Math.min(count - 1, Math.floor(v / width))].count += 1;
  return { width, bins };
}

/** The q-quantile (0..1) of values (linear interpolation), NaN when empty. */
export function quantile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
