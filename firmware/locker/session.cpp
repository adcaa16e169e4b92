#include "session.h"

#include <HardwareSerial.h>  /* SERIAL_TX_BUFFER_SIZE */
#include <avr/pgmspace.h>
#include <string.h>

#include "config.h"

namespace {

const uint16_t kStateTopicId = 100;    /* device/state, published */
const uint16_t kCommandTopicId = 101;  /* device/command, subscribed */

/* Topic names are relative: the host node runs in the locker's namespace (/lockers/<id>/device/...). */
const char kStateName[] PROGMEM = "device/state";
const char kStateType[] PROGMEM = LOCKER_HARDWARE_STATE_TYPE;
const char kStateMd5[] PROGMEM = LOCKER_HARDWARE_STATE_MD5;
const char kCommandName[] PROGMEM = "device/command";
const char kCommandType[] PROGMEM = LOCKER_COMMAND_TYPE;
const char kCommandMd5[] PROGMEM = LOCKER_COMMAND_MD5;

/* buffer_size tells the host the largest message each side takes. */
const TopicDescription kStateTopic = {kStateTopicId, kStateName, kStateType, kStateMd5, SERIAL_TX_BUFFER_SIZE};
const TopicDescription kCommandTopic = {kCommandTopicId, kCommandName, kCommandType, kCommandMd5,
                                        rosserial::kMaxPayload};

bool same_state(const HardwareState& a, const HardwareState& b) {
  return a.locked == b.locked && a.door_closed == b.door_closed && a.occupied == b.occupied && a.fault == b.fault &&
         a.last_command_seq == b.last_command_seq && a.last_command_result == b.last_command_result;
}

}  // namespace

const Session::Route Session::kRoutes[] = {
    {rosserial::kTopicPublisherInfo, &Session::on_topic_request},
    {rosserial::kTopicTime, &Session::on_time},
    {rosserial::kTopicTxStop, &Session::on_tx_stop},
    {kCommandTopicId, &Session::on_command},
};

Session::Session(Print& out, Cells& cells, const char* greeting)
    : writer_(out), cells_(cells), greeting_(greeting) {}

void Session::receive(uint8_t byte, uint32_t now_ms) {
  if (!parser_.feed(byte, now_ms)) return;
  const rosserial::Frame& frame = parser_.frame();
  for (const Route& route : kRoutes) {
    if (route.topic == frame.topic) {
      (this->*route.handler)(frame, now_ms);
      return;
    }
  }
}

void Session::on_topic_request(const rosserial::Frame&, uint32_t now_ms) {
  send_topic_info(writer_, rosserial::kTopicPublisherInfo, kStateTopic);
  send_topic_info(writer_, rosserial::kTopicSubscriberInfo, kCommandTopic);
  send_time_request(writer_);
  configured_ = true;
  cells_.forget_commands();  /* a new host session may count seq from the start again */
  last_sync_ms_ = now_ms;
  last_time_request_ms_ = now_ms;
  state_due_ = true;
  log(rosserial::kLogInfo, greeting_);
}

void Session::on_time(const rosserial::Frame& frame, uint32_t now_ms) {
  /* Only the fact of the reply matters: the state message carries device uptime, not ROS time. */
  if (configured_ && frame.length == 8) last_sync_ms_ = now_ms;
}

void Session::on_tx_stop(const rosserial::Frame&, uint32_t) { configured_ = false; }

void Session::on_command(const rosserial::Frame& frame, uint32_t) {
  Command command;
  if (!configured_ || !parse_command(frame.payload, frame.length, &command)) return;
  if (cells_.apply(command) == Cells::kRepeated) state_due_ = true;  /* acknowledge, do not re-apply */
}

void Session::tick(uint32_t now_ms) {
  if (!configured_) return;
  if (now_ms - last_sync_ms_ > SYNC_LOST_MS) {
    configured_ = false;
    return;
  }
  if (now_ms - last_time_request_ms_ >= TIME_SYNC_PERIOD_MS) {
    send_time_request(writer_);
    last_time_request_ms_ = now_ms;
  }
  publish_state(now_ms);
}

void Session::publish_state(uint32_t now_ms) {
  HardwareState state;
  cells_.fill(&state);
  const uint32_t since = now_ms - last_state_ms_;
  const bool changed = state_due_ || !same_state(state, published_);
  if (since < STATE_MIN_PERIOD_MS || (!changed && since < STATE_PERIOD_MS)) return;
  state.uptime_ms = now_ms;
  send_hardware_state(writer_, kStateTopicId, state);
  published_ = state;
  last_state_ms_ = now_ms;
  state_due_ = false;
}

void Session::log(uint8_t level, const char* text) {
  if (configured_) send_log(writer_, level, text);
}
