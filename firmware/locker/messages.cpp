#include "messages.h"

#include <avr/pgmspace.h>

using rosserial::FrameWriter;

namespace {
const uint16_t kHardwareStateSize = 1 + 2 * 5 + 1 + 4;
const uint16_t kCommandSize = 2 + 1 + 1;
const uint16_t kTimeSize = 4 + 4;
}  // namespace

void send_hardware_state(FrameWriter& out, uint16_t topic, const HardwareState& state) {
  out.begin(topic, kHardwareStateSize);
  out.u8(state.cell_count);
  out.u16(state.locked);
  out.u16(state.door_closed);
  out.u16(state.occupied);
  out.u16(state.fault);
  out.u16(state.last_command_seq);
  out.u8(state.last_command_result);
  out.u32(state.uptime_ms);
  out.end();
}

bool parse_command(const uint8_t* payload, uint16_t length, Command* command) {
  if (length != kCommandSize) return false;
  command->seq = payload[0] | (static_cast<uint16_t>(payload[1]) << 8);
  command->cell_id = payload[2];
  command->command = payload[3];
  return true;
}

void send_topic_info(FrameWriter& out, uint16_t endpoint, const TopicDescription& topic) {
  /* rosserial_msgs/TopicInfo: uint16 topic_id, string topic_name, string message_type, string md5sum,
     int32 buffer_size */
  const uint16_t size = 2 + FrameWriter::string_size_P(topic.name) + FrameWriter::string_size_P(topic.type) +
                        FrameWriter::string_size_P(topic.md5) + 4;
  out.begin(endpoint, size);
  out.u16(topic.id);
  out.string_P(topic.name);
  out.string_P(topic.type);
  out.string_P(topic.md5);
  out.u32(static_cast<uint32_t>(topic.buffer_size));
  out.end();
}

void send_time_request(FrameWriter& out) {
  out.begin(rosserial::kTopicTime, kTimeSize);
  out.u32(0);
  out.u32(0);
  out.end();
}

void send_log(FrameWriter& out, uint8_t level, const char* text) {
  /* rosserial_msgs/Log: uint8 level, string msg */
  out.begin(rosserial::kTopicLog, 1 + FrameWriter::string_size(text));
  out.u8(level);
  out.string(text);
  out.end();
}
