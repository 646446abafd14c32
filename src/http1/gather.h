// The pieces of one write: a head, body pieces each with its chunk framing, the last chunk;
// gathered so that one system call (sendmsg with an iovec) sends them all.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "http1/head.h"
#include "net/io.h"

namespace modelgate::http1 {

class Gather {
 public:
  static constexpr std::size_t kPieces = 16;
  void clear() {
    n_ = 0;
    lines_used_ = 0;
  }
  bool full() const { return n_ + 3 > bufs_.size() || lines_used_ == kPieces; }
  void add(std::string_view bytes) {
    if (!bytes.empty()) bufs_[n_++] = asio::buffer(bytes.data(), bytes.size());
  }
  void add_piece(std::string_view data, bool chunked) {
    if (data.empty()) return;
    if (chunked) {
      auto& line = lines_[lines_used_++];
      bufs_[n_++] = asio::buffer(line, chunk_size_line(line, data.size()));
    }
    add(data);
    if (chunked) add("\r\n");
  }
  bool empty() const { return n_ == 0; }
  std::span<const asio::const_buffer> buffers() const { return {bufs_.data(), n_}; }

 private:
  std::array<asio::const_buffer, 3 * kPieces + 2> bufs_;
  std::array<char[20], kPieces> lines_;
  std::size_t n_ = 0;
  std::size_t lines_used_ = 0;
};

}  // namespace modelgate::http1
