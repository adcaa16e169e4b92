// sensor_msgs/CompressedImage as rosbridge sends it (data is base64) -> a URL an <img> can show. Pure: no DOM.

export class ImageFormatError extends Error {}

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

const JPEG_FORMAT = /jpeg|jpg/i;

/** sensor_msgs/CompressedImage with JPEG data -> a data: URL for an <img>. */
export function jpegDataUrl(msg) {
  if (!JPEG_FORMAT.test(msg.format || "")) throw new ImageFormatError(`not a JPEG image: format ${msg.format}`);
  if (typeof msg.data === "string") {
    if (!msg.data.startsWith("/9j/")) throw new ImageFormatError("data is not JPEG");  // base64 of FF D8 FF
    return `data:image/jpeg;base64,${msg.data}`;
  }
  const bytes = bytesOf(msg.data);
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ImageFormatError("data is not JPEG");
  let text = "";
  for (let i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
  return `data:image/jpeg;base64,${btoa(text)}`;
}
