/*
 * The rosserial session with the host: topic negotiation, time sync, sync loss, command intake, state publishing.
 *
 *   unconfigured --(host asks for topics: empty frame on topic 0)--> configured
 *   configured   --(no time reply for SYNC_LOST_MS, or tx-stop)-----> unconfigured
 *
 * Configured: asks for the time every TIME_SYNC_PERIOD_MS, publishes device/state on change and every
 * STATE_PERIOD_MS, applies device/command. Unconfigured: sends nothing, ignores commands (they could come from a
 * host that lost track of us), leaves the cells as they are, and answers the next negotiation.
 */
#ifndef SKYPOST_LOCKER_SESSION_H
#define SKYPOST_LOCKER_SESSION_H

#include <stdint.h>

#include "cells.h"
#include "messages.h"
#include "rosserial.h"

class Print;

class Session {
 public:
  /* `greeting` is logged to the host after every negotiation (firmware version, reset cause). */
  Session(Print& out, Cells& cells, const char* greeting);

  void receive(uint8_t byte, uint32_t now_ms);
  /* Periodic work: sync loss, time requests, state publishing. */
  void tick(uint32_t now_ms);
  /* Sends a rosserial log line (only while configured: nobody listens otherwise). */
  void log(uint8_t level, const char* text);
  bool configured() const { return configured_; }

 private:
  typedef void (Session::*Handler)(const rosserial::Frame& frame, uint32_t now_ms);
  struct Route {
    uint16_t topic;
    Handler handler;
  };
  static const Route kRoutes[];

  void on_topic_request(const rosserial::Frame& frame, uint32_t now_ms);
  void on_time(const rosserial::Frame& frame, uint32_t now_ms);
  void on_tx_stop(const rosserial::Frame& frame, uint32_t now_ms);
  void on_command(const rosserial::Frame& frame, uint32_t now_ms);
  void publish_state(uint32_t now_ms);

  rosserial::FrameParser parser_;
  rosserial::FrameWriter writer_;
  Cells& cells_;
  const char* greeting_;
  bool configured_ = false;
  bool state_due_ = false;       /* publish at the next chance (negotiation, repeated command) */
  uint32_t last_sync_ms_ = 0;    /* last negotiation or time reply */
  uint32_t last_time_request_ms_ = 0;
  uint32_t last_state_ms_ = 0;
  HardwareState published_ = {};
};

#endif
