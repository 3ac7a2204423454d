// Frame layer of the UART protocol (docs/protocol.md): header, CRC-32, streaming COBS.
#ifndef TINYROBUST_APP_FRAME_H_
#define TINYROBUST_APP_FRAME_H_

#include <stddef.h>
#include <stdint.h>

namespace tr {

constexpr uint8_t kProtocolVersion = 1;
constexpr uint32_t kHeaderBytes = 8;  // version u8, type u8, seq u16, length u32
constexpr uint32_t kCrcBytes = 4;
constexpr uint32_t kFrameOverhead = kHeaderBytes + kCrcBytes;
constexpr uint16_t kNoSeq = 0xFFFF;

// Frame types: host to device below 0x80, device to host from 0x80.
enum FrameType : uint8_t {
  kHelloRequest = 0x01,
  kInfer = 0x02,
  kStatsRequest = 0x03,
  kReset = 0x04,
  kEcho = 0x05,
  kHello = 0x81,
  kResult = 0x82,
  kStats = 0x83,
  kResetAck = 0x84,
  kEchoReply = 0x85,
  kLog = 0x90,
  kError = 0x91,
  kNak = 0x92,
};

// Why a frame was refused (NAK payload).
enum NakReason : uint8_t {
  kNakBadCrc = 1,
  kNakBadCobs = 2,
  kNakTooShort = 3,
  kNakTooLong = 4,
  kNakBadLength = 5,
};

// Errors on a well-formed frame (ERROR payload).
enum ErrorCode : uint16_t {
  kErrUnknownType = 1,
  kErrBadVersion = 2,
  kErrBadPayload = 3,
  kErrBatchTooLarge = 4,
  kErrEngine = 5,
};

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

// COBS-encodes a sealed frame and writes it, then the 0x00 delimiter, to the UART.
void SendEncoded(const uint8_t* raw, uint32_t n);

}  // namespace tr

#endif  // TINYROBUST_APP_FRAME_H_
