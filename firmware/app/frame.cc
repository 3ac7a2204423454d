// Frame layer: CRC-32, little-endian helpers, streaming COBS decoder and encoder.
#include "frame.h"

namespace tr {

uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t n) {
  static const uint32_t kNibble[16] = {
      0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
      0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
      0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
  };
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= data[i];
    crc = (crc >> 4) ^ kNibble[crc & 0xF];
    crc = (crc >> 4) ^ kNibble[crc & 0xF];
  }
  return ~crc;
}

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) {
    p[i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void FrameDecoder::Append(uint8_t byte) {
  if (len_ < cap_) {
    buf_[len_++] = byte;
  } else {
    overflow_ = true;
  }
}

FrameDecoder::Status FrameDecoder::Push(uint8_t byte) {
  if (byte == 0) {
    Status status = Finish();
    len_ = 0;
    code_ = 0;
    left_ = 0;
    overflow_ = false;
    return status;
  }
  if (left_ > 0) {
    Append(byte);
    left_--;
    return kPending;
  }
  // A code byte: the previous block (if any, and not a full 254-byte block) ended in a zero.
  if (code_ != 0 && code_ != 0xFF) {
    Append(0);
  }
  code_ = byte;
  left_ = static_cast<uint8_t>(byte - 1);
  return kPending;
}

FrameDecoder::Status FrameDecoder::Finish() {
  rejected_seq_ = kNoSeq;
  if (code_ == 0 && len_ == 0) {
    return kEmpty;  // two delimiters in a row: nothing to answer
  }
  if (len_ >= kHeaderBytes) {
    rejected_seq_ = GetU16(buf_ + kHeaderSeqOffset);
  }
  if (left_ != 0) {
    reason_ = kNakBadCobs;
    return kRejected;
  }
  if (overflow_) {
    reason_ = kNakTooLong;
    return kRejected;
  }
  if (len_ < kFrameOverhead) {
    reason_ = kNakTooShort;
    return kRejected;
  }
  uint32_t length = GetU32(buf_ + kHeaderLengthOffset);
  if (length != len_ - kFrameOverhead) {
    reason_ = kNakBadLength;
    return kRejected;
  }
  if (Crc32(0, buf_, len_ - kCrcBytes) != GetU32(buf_ + len_ - kCrcBytes)) {
    reason_ = kNakBadCrc;
    return kRejected;
  }
  frame_.version = buf_[kHeaderVersionOffset];
  frame_.type = buf_[kHeaderTypeOffset];
  frame_.seq = GetU16(buf_ + kHeaderSeqOffset);
  frame_.length = length;
  frame_.payload = buf_ + kHeaderBytes;
  return kFrameReady;
}

uint32_t SealFrame(uint8_t* buffer, uint8_t type, uint16_t seq, uint32_t length) {
  buffer[kHeaderVersionOffset] = kProtocolVersion;
  buffer[kHeaderTypeOffset] = type;
  PutU16(buffer + kHeaderSeqOffset, seq);
  PutU32(buffer + kHeaderLengthOffset, length);
  uint32_t crc = Crc32(0, buffer, kHeaderBytes + length);
  PutU32(buffer + kHeaderBytes + length, crc);
  return kFrameOverhead + length;
}

void SendEncoded(const uint8_t* raw, uint32_t n, ByteSink sink) {
  uint32_t start = 0;
  for (;;) {
    // One block: up to 254 non-zero bytes, ended by a zero or by the end of the frame.
    uint32_t end = start;
    while (end < n && raw[end] != 0 && end - start < 254) {
      end++;
    }
    uint8_t code = static_cast<uint8_t>(end - start + 1);
    sink(&code, 1);
    sink(raw + start, end - start);
    if (end >= n) {
      break;
    }
    if (code == 0xFF) {
      start = end;  // a full block carries no zero
      continue;
    }
    start = end + 1;  // the block ended at a zero
    if (start == n) {
      uint8_t last = 1;  // the frame ended in a zero: an empty final block carries it
      sink(&last, 1);
      break;
    }
  }
  uint8_t delimiter = 0;
  sink(&delimiter, 1);
}

}  // namespace tr
