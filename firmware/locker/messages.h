/*
 * The two SkyPost messages this device speaks, serialized by hand (ROS 1: little-endian fields in msg order), and
 * the rosserial_msgs it needs (TopicInfo, Log).
 *
 * The md5sums must equal what genmsg computes for msg/LockerHardwareState.msg and msg/LockerCommand.msg, or
 * rosserial_python refuses the topics. tests/unit/test_firmware_build.py checks them against the built Python
 * messages; when a .msg changes, that test fails until the serialization here and the md5sums are updated together.
 */
#ifndef SKYPOST_LOCKER_MESSAGES_H
#define SKYPOST_LOCKER_MESSAGES_H

#include <stdint.h>

#include "rosserial.h"

#define LOCKER_HARDWARE_STATE_TYPE "skypost/LockerHardwareState"
#define LOCKER_HARDWARE_STATE_MD5 "0d7664bb65d5df957215a03d3b9f57ca"
#define LOCKER_COMMAND_TYPE "skypost/LockerCommand"
#define LOCKER_COMMAND_MD5 "6b38aad3cc8fb466bc6b5f2d2f22ff59"

/* skypost/LockerHardwareState. Bit i of each mask is cell i + 1. */
struct HardwareState {
  uint8_t cell_count;
  uint16_t locked;       /* lock engaged */
  uint16_t door_closed;  /* reed switch says closed */
  uint16_t occupied;     /* IR sensor sees a parcel */
  uint16_t fault;        /* commanded locked but the door stays open */
  uint16_t last_command_seq;
  uint8_t last_command_result;
  uint32_t uptime_ms;
};

const uint8_t kResultOk = 0;
const uint8_t kResultBadCell = 1;
const uint8_t kResultBadCommand = 2;

/* skypost/LockerCommand. */
struct Command {
  uint16_t seq;
  uint8_t cell_id;  /* 1..N, ignored by LOCK_ALL */
  uint8_t command;
};

const uint8_t kCommandUnlock = 1;
const uint8_t kCommandLock = 2;
const uint8_t kCommandLockAll = 3;

/* One topic as announced in rosserial_msgs/TopicInfo; strings in flash. */
struct TopicDescription {
  uint16_t id;
  const char* name;
  const char* type;
  const char* md5;
  int32_t buffer_size;
};

void send_hardware_state(rosserial::FrameWriter& out, uint16_t topic, const HardwareState& state);
/* Decodes a LockerCommand payload; false when the length is wrong. */
bool parse_command(const uint8_t* payload, uint16_t length, Command* command);
/* Announces one topic; `endpoint` is kTopicPublisherInfo or kTopicSubscriberInfo. */
void send_topic_info(rosserial::FrameWriter& out, uint16_t endpoint, const TopicDescription& topic);
/* An empty std_msgs/Time on the time topic: asks the host for its time. */
void send_time_request(rosserial::FrameWriter& out);
void send_log(rosserial::FrameWriter& out, uint8_t level, const char* text);

#endif
