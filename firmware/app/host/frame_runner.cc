// Host runner for the frame codec (frame.cc): tests/test_protocol.py sends it the same vectors
// as the Python codec (host/board/protocol.py) and compares the answers. One command a line:
//   encode TYPE SEQ PAYLOAD      -> the frame as sent on the wire, delimiter included
//   decode CAPACITY BYTES        -> one verdict a line for every 0x00 in BYTES, then "end":
//                                   "frame TYPE SEQ PAYLOAD", "nak REASON" or "empty"
// Byte strings are hex, "-" when empty; numbers are decimal.
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "frame.h"

namespace {

std::vector<uint8_t> FromHex(const std::string& text) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; text != "-" && i + 1 < text.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(strtoul(text.substr(i, 2).c_str(), nullptr, 16)));
  }
  return bytes;
}

void PrintHex(const uint8_t* data, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    printf("%02x", data[i]);
  }
}

void PrintPayload(const uint8_t* data, uint32_t n) {
  if (n == 0) {
    printf("-");
  }
  PrintHex(data, n);
}

void Encode(unsigned type, unsigned seq, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> buffer(tr::kFrameOverhead + payload.size());
  std::copy(payload.begin(), payload.end(), buffer.begin() + tr::kHeaderBytes);
  uint32_t n = tr::SealFrame(buffer.data(), static_cast<uint8_t>(type), static_cast<uint16_t>(seq),
                             static_cast<uint32_t>(payload.size()));
  tr::SendEncoded(buffer.data(), n, PrintHex);
  printf("\n");
}

void Decode(unsigned capacity, const std::vector<uint8_t>& stream) {
  std::vector<uint8_t> buffer(capacity);
  tr::FrameDecoder decoder(buffer.data(), capacity);
  for (uint8_t byte : stream) {
    switch (decoder.Push(byte)) {
      case tr::FrameDecoder::kFrameReady: {
        const tr::Frame& f = decoder.frame();
        printf("frame %u %u ", static_cast<unsigned>(f.type), static_cast<unsigned>(f.seq));
        PrintPayload(f.payload, f.length);
        printf("\n");
        break;
      }
      case tr::FrameDecoder::kRejected:
        printf("nak %u\n", static_cast<unsigned>(decoder.reason()));
        break;
      case tr::FrameDecoder::kEmpty:
        printf("empty\n");
        break;
      case tr::FrameDecoder::kPending:
        break;
    }
  }
  printf("end\n");
}

}  // namespace

int main() {
  std::string command;
  while (std::cin >> command) {
    unsigned a = 0;
    unsigned b = 0;
    std::string bytes;
    if (command == "encode" && std::cin >> a >> b >> bytes) {
      Encode(a, b, FromHex(bytes));
    } else if (command == "decode" && std::cin >> a >> bytes) {
      Decode(a, FromHex(bytes));
    } else {
      fprintf(stderr, "bad command: %s\n", command.c_str());
      return 1;
    }
  }
  return 0;
}
