// Frame layer of the UART protocol (docs/protocol.md): header, CRC-32, streaming COBS.
// The wire constants, enums and offsets come from wire.h, generated into every build from
// host/board/wire.py.
#ifndef TINYROBUST_APP_FRAME_H_
#define TINYROBUST_APP_FRAME_H_

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

namespace tr {

constexpr uint32_t kFrameOverhead = kHeaderBytes + kCrcBytes;

// CRC-32 with the zlib polynomial (reflected 0xEDB88320), continued from a previous value.
uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t n);

void PutU16(uint8_t* p, uint16_t v);
void PutU32(uint8_t* p, uint32_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);

// A decoded, checked frame; payload points into the decoder's buffer.
struct Frame {
  uint8_t version;
  uint8_t type;
  uint16_t seq;
  uint32_t length;
  const uint8_t* payload;
};

// Streaming COBS decoder: push bytes, get a frame or a reason to NAK when a 0x00 ends one.
class FrameDecoder {
 public:
  enum Status { kPending, kFrameReady, kEmpty, kRejected };

  FrameDecoder(uint8_t* buffer, uint32_t capacity) : buf_(buffer), cap_(capacity) {}
  Status Push(uint8_t byte);
  const Frame& frame() const { return frame_; }
  NakReason reason() const { return reason_; }
  // Sequence number of the rejected frame when its header was readable, else kNoSeq.
  uint16_t rejected_seq() const { return rejected_seq_; }

 private:
  Status Finish();
  void Append(uint8_t byte);

  uint8_t* buf_;
  uint32_t cap_;
  uint32_t len_ = 0;
  uint8_t code_ = 0;  // current COBS block code
  uint8_t left_ = 0;  // data bytes left in the current block
  bool overflow_ = false;
  Frame frame_{};
  NakReason reason_ = kNakBadCrc;
  uint16_t rejected_seq_ = kNoSeq;
};

// Writes header and CRC around a payload already at buffer + kHeaderBytes; returns frame size.
uint32_t SealFrame(uint8_t* buffer, uint8_t type, uint16_t seq, uint32_t length);

// Where encoded bytes go: the board's UART (tr_uart_write), a buffer or stdout in host tests.
using ByteSink = void (*)(const uint8_t* data, uint32_t n);

// COBS-encodes a sealed frame and writes it, then the 0x00 delimiter, to the sink.
void SendEncoded(const uint8_t* raw, uint32_t n, ByteSink sink);

}  // namespace tr

#endif  // TINYROBUST_APP_FRAME_H_
