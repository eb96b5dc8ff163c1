#include "lookup_output.hpp"

#include <memory>
#include <stdexcept>
#include <string_view>

namespace frodo::cli {
namespace {

class OwnerWriter {
 public:
  OwnerWriter(const Ring& ring, std::size_t count, std::FILE* out) : ring_(ring), count_(count), out_(out) {
    if (ring_.empty()) throw std::logic_error("print_owners needs a non-empty ring");
    buffer_.reserve(1 << 17);
  }

  void answer(std::string_view id) {
    if (count_ == 0) {
      buffer_ += *ring_.owner(id);
    } else {
      bool first = true;
      for (std::string_view owner : ring_.owners(id, count_)) {
        if (!first) buffer_ += '\t';
        buffer_ += owner;
        first = false;
      }
    }
    buffer_ += '\n';
    if (buffer_.size() >= (1 << 16)) write();
  }

  void finish() {
    write();
    if (std::fflush(out_) != 0) throw std::runtime_error("error writing to stdout");
  }

 private:
  void write() {
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size()) {
      throw std::runtime_error("error writing to stdout");
    }
    buffer_.clear();
  }

  const Ring& ring_;
  std::size_t count_;
  std::FILE* out_;
  std::string buffer_;
};

}  // namespace

void print_owners(const Ring& ring, std::size_t count, std::FILE* in, std::FILE* out) {
  OwnerWriter writer(ring, count, out);
  std::string pending;
  std::unique_ptr<char[]> buffer(new char[1 << 16]);
  std::size_t n;
  while ((n = std::fread(buffer.get(), 1, 1 << 16, in)) > 0) {
    std::string_view chunk(buffer.get(), n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      if (pending.empty()) {
        writer.answer(chunk.substr(start, nl - start));
      } else {
        pending.append(chunk.substr(start, nl - start));
        writer.answer(pending);
        pending.clear();
      }
    }
    pending.append(chunk.substr(start));
  }
  if (std::ferror(in)) throw std::runtime_error("error reading ids from stdin");
  if (!pending.empty()) writer.answer(pending);
  writer.finish();
}

void print_owners(const Ring& ring, std::size_t count, const std::vector<std::string>& ids, std::FILE* out) {
  OwnerWriter writer(ring, count, out);
  for (const std::string& id : ids) writer.answer(id);
  writer.finish();
}

}  // namespace frodo::cli
