#include "rosserial.h"

#include <Print.h>
#include <avr/pgmspace.h>
#include <string.h>

#include "config.h"

namespace rosserial {

namespace {
const uint8_t kSyncByte = 0xFF;
const uint8_t kProtocolRevision = 0xFE;
}  // namespace

bool FrameParser::feed(uint8_t byte, uint32_t now_ms) {
  /* A frame whose body stalls is abandoned, like upstream devices do; this byte may then start a new frame. */
  if (state_ != kSync && now_ms - started_ms_ > FRAME_BODY_TIMEOUT_MS) reject();

  switch (state_) {
    case kSync:
      if (byte == kSyncByte) {
        state_ = kRevision;
        started_ms_ = now_ms;
      }
      return false;
    case kRevision:
      /* FF FF FE: the second FF may be the real start of the frame. */
      if (byte == kProtocolRevision) state_ = kLengthLow;
      else if (byte != kSyncByte) state_ = kSync;
      return false;
    case kLengthLow:
      length_ = byte;
      sum_ = byte;
      state_ = kLengthHigh;
      return false;
    case kLengthHigh:
      length_ |= static_cast<uint16_t>(byte) << 8;
      sum_ += byte;
      state_ = kLengthCheck;
      return false;
    case kLengthCheck:
      if (static_cast<uint8_t>(sum_ + byte) != 0xFF) reject();
      else state_ = kTopicLow;
      return false;
    case kTopicLow:
      topic_ = byte;
      sum_ = byte;
      state_ = kTopicHigh;
      return false;
    case kTopicHigh:
      topic_ |= static_cast<uint16_t>(byte) << 8;
      sum_ += byte;
      received_ = 0;
      state_ = length_ ? kPayload : kMessageCheck;
      return false;
    case kPayload:
      /* Oversized payloads are still counted through, so the parser stays aligned with the stream. */
      if (received_ < kMaxPayload) payload_[received_] = byte;
      sum_ += byte;
      if (++received_ == length_) state_ = kMessageCheck;
      return false;
    case kMessageCheck:
      if (static_cast<uint8_t>(sum_ + byte) != 0xFF || length_ > kMaxPayload) {
        reject();
        return false;
      }
      state_ = kSync;
      frame_.topic = topic_;
      frame_.length = length_;
      frame_.payload = payload_;
      return true;
  }
  return false;
}

void FrameWriter::byte(uint8_t value) {
  out_.write(value);
  sum_ += value;
}

void FrameWriter::begin(uint16_t topic, uint16_t payload_length) {
  const uint8_t length_low = payload_length & 0xFF;
  const uint8_t length_high = payload_length >> 8;
  out_.write(kSyncByte);
  out_.write(kProtocolRevision);
  out_.write(length_low);
  out_.write(length_high);
  out_.write(static_cast<uint8_t>(255 - static_cast<uint8_t>(length_low + length_high)));
  sum_ = 0;
  byte(topic & 0xFF);
  byte(topic >> 8);
}

void FrameWriter::u8(uint8_t value) { byte(value); }

void FrameWriter::u16(uint16_t value) {
  byte(value & 0xFF);
  byte(value >> 8);
}

void FrameWriter::u32(uint32_t value) {
  for (uint8_t i = 0; i < 4; ++i) byte(static_cast<uint8_t>(value >> (8 * i)));
}

void FrameWriter::string_P(const char* text) {
  const uint16_t length = strlen_P(text);
  u32(length);
  for (uint16_t i = 0; i < length; ++i) byte(pgm_read_byte(text + i));
}

void FrameWriter::string(const char* text) {
  const uint16_t length = strlen(text);
  u32(length);
  for (uint16_t i = 0; i < length; ++i) byte(static_cast<uint8_t>(text[i]));
}

void FrameWriter::end() { out_.write(static_cast<uint8_t>(255 - sum_)); }

uint16_t FrameWriter::string_size_P(const char* text) { return 4 + strlen_P(text); }

uint16_t FrameWriter::string_size(const char* text) { return 4 + strlen(text); }

}  // namespace rosserial
