/*
 * rosserial wire protocol, revision 0xFE (what rosserial_python's serial_node speaks), written for this firmware.
 *
 * Frame: 0xFF 0xFE len_lo len_hi len_chk topic_lo topic_hi payload... msg_chk
 *   len_chk = 255 - ((len_lo + len_hi) % 256)
 *   msg_chk = 255 - ((topic_lo + topic_hi + sum(payload)) % 256)
 * The payload is the ROS 1 serialization of the message (little-endian fields in order; strings as uint32 length
 * followed by the bytes).
 */
#ifndef SKYPOST_LOCKER_ROSSERIAL_H
#define SKYPOST_LOCKER_ROSSERIAL_H

#include <stdint.h>

class Print;

namespace rosserial {

/* Reserved topic ids (rosserial_msgs/TopicInfo). */
const uint16_t kTopicPublisherInfo = 0;   /* host -> device: "send your topics"; device -> host: a publisher */
const uint16_t kTopicSubscriberInfo = 1;  /* device -> host: a subscriber */
const uint16_t kTopicLog = 7;             /* device -> host: rosserial_msgs/Log */
const uint16_t kTopicTime = 10;           /* both ways: std_msgs/Time */
const uint16_t kTopicTxStop = 11;         /* host -> device: the host is going away */

/* rosserial_msgs/Log levels. */
const uint8_t kLogDebug = 0;
const uint8_t kLogInfo = 1;
const uint8_t kLogWarn = 2;
const uint8_t kLogError = 3;

/* Largest payload this device accepts; bigger frames are consumed and dropped (nothing we subscribe to is bigger). */
const uint16_t kMaxPayload = 32;

struct Frame {
  uint16_t topic;
  uint16_t length;
  const uint8_t* payload;
};

/* Byte-at-a-time frame decoder. Never blocks; keeps no state beyond one frame. */
class FrameParser {
 public:
  /* Feeds one received byte; returns true when it completed a frame with both checksums right (see frame()). */
  bool feed(uint8_t byte, uint32_t now_ms);
  const Frame& frame() const { return frame_; }

 private:
  enum State : uint8_t {
    kSync, kRevision, kLengthLow, kLengthHigh, kLengthCheck, kTopicLow, kTopicHigh, kPayload, kMessageCheck
  };
  void reject() { state_ = kSync; }

  State state_ = kSync;
  uint16_t length_ = 0;
  uint16_t received_ = 0;
  uint16_t topic_ = 0;
  uint8_t sum_ = 0;
  uint32_t started_ms_ = 0;
  Frame frame_ = {0, 0, nullptr};
  uint8_t payload_[kMaxPayload];
};

/*
 * Writes one frame straight to the serial port (no frame buffer): begin() with the payload length, the fields, end().
 * Strings come from flash (PROGMEM) or RAM.
 */
class FrameWriter {
 public:
  explicit FrameWriter(Print& out) : out_(out) {}
  void begin(uint16_t topic, uint16_t payload_length);
  void u8(uint8_t value);
  void u16(uint16_t value);
  void u32(uint32_t value);
  void string_P(const char* text);  /* a string in flash */
  void string(const char* text);    /* a string in RAM */
  void end();

  /* Serialized size of a string: uint32 length + bytes. */
  static uint16_t string_size_P(const char* text);
  static uint16_t string_size(const char* text);

 private:
  void byte(uint8_t value);
  Print& out_;
  uint8_t sum_ = 0;
};

}  // namespace rosserial

#endif
