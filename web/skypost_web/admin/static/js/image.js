// sensor_msgs/Image (as rosbridge sends it: data is base64) -> RGBA pixels for a canvas. Pure: no DOM.

export class ImageFormatError extends Error {}

const CHANNELS = { mono8: 1, rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono16: 2 };

/** base64 (rosbridge's uint8[]) or a plain array -> Uint8Array. */
export function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Uint8Array.from(data);
  if (typeof data !== "string") throw new ImageFormatError("image data is neither base64 nor an array");
  const text = atob(data);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** {width, height, rgba: Uint8ClampedArray} for mono8, mono16, rgb8, bgr8, rgba8, bgra8 images. */
export function imageToRgba(msg) {
  const { width, height, encoding } = msg;
  const channels = CHANNELS[encoding];
  if (!channels) throw new ImageFormatError(`unsupported encoding ${encoding}`);
  if (!(width > 0 && height > 0)) throw new ImageFormatError(`bad size ${width}x${height}`);
  const bytes = bytesOf(msg.data);
  const step = msg.step || width * channels;
  if (bytes.length < step * (height - 1) + width * channels) {
    throw new ImageFormatError(`${bytes.length} bytes is too short for ${width}x${height} ${encoding}`);
  }
  const rgba = new Uint8ClampedArray(width * height * 4);
  const bigEndian = Boolean(msg.is_bigendian);
  for (let row = 0; row < height; row += 1) {
    for (let col = 0; col < width; col += 1) {
      const src = row * step + col * channels;
      const dst = (row * width + col) * 4;
      let r; let g; let b; let a = 255;
      if (encoding === "mono8") {
        r = g = b = bytes[src];
      } else if (encoding === "mono16") {
        r = g = b = bigEndian ? bytes[src] : bytes[src + 1];  // the high byte
      } else if (encoding.startsWith("rgb")) {
        [r, g, b] = [bytes[src], bytes[src + 1], bytes[src + 2]];
        if (channels === 4) a = bytes[src + 3];
      } else {
        [b, g, r] = [bytes[src], bytes[src + 1], bytes[src + 2]];
        if (channels === 4) a = bytes[src + 3];
      }
      rgba[dst] = r; rgba[dst + 1] = g; rgba[dst + 2] = b; rgba[dst + 3] = a;
    }
  }
  return { width, height, rgba };
}
