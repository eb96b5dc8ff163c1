#include "lookup_output.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "terminal_text.hpp"
#include "usage_error.hpp"

namespace frodo::cli {
namespace {

class OwnerWriter {
 public:
  // `where` names an id's position in errors: "on line" (stdin) or "argument".
  OwnerWriter(const Ring& ring, std::size_t count, std::FILE* out, const char* where)
      : ring_(ring), count_(count), out_(out), where_(where) {
    buffer_.reserve(1 << 17);
  }

  // Answers the id numbered `number` (from 1) in its input.
  void answer(std::string_view id, std::size_t number) {
    if (id.size() > max_id_bytes) too_long(number);
    if (count_ == 0) {
      std::optional<std::string_view> owner = ring_.owner(id);
      if (!owner) no_owner(number);
      buffer_ += *owner;
    } else {
      std::vector<std::string_view> owners = ring_.owners(id, count_);
      if (owners.empty()) no_owner(number);
      bool first = true;
      for (std::string_view owner : owners) {
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
  // An empty line would read as an answer (the empty string is no server, but a script may
  // not check), so the output stops at the last id that has an owner and the command fails.
  [[noreturn]] void no_owner(std::size_t number) {
    write();
    std::fflush(out_);
    throw std::runtime_error("no server owns the id " + std::string(where_) + " " + std::to_string(number) +
                             (ring_.empty() ? ": the ring is empty"
                                            : ": no server holds a point of the ring (weights too small)") +
                             "; the lines printed answer the ids before it");
  }

  [[noreturn]] void too_long(std::size_t number) {
    write();
    std::fflush(out_);
    throw UsageError("the id " + std::string(where_) + " " + std::to_string(number) + " is longer than " +
                     std::to_string(max_id_bytes) + " bytes; the lines printed answer the ids before it");
  }

  void write() {
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size()) {
      throw std::runtime_error("error writing to stdout");
    }
    buffer_.clear();
  }

  const Ring& ring_;
  std::size_t count_;
  std::FILE* out_;
  const char* where_;
  std::string buffer_;
};

// Appends at most one byte more than an id may hold: enough to know the id is too long.
void append_bounded(std::string& pending, std::string_view part) {
  std::size_t room = max_id_bytes + 1 - std::min(pending.size(), max_id_bytes + 1);
  pending.append(part.substr(0, room));
}

}  // namespace

void print_owners(const Ring& ring, std::size_t count, std::FILE* in, std::FILE* out) {
  OwnerWriter writer(ring, count, out, "on line");
  std::size_t line = 0;
  std::string pending;
  std::unique_ptr<char[]> buffer(new char[1 << 16]);
  std::size_t n;
  while ((n = std::fread(buffer.get(), 1, 1 << 16, in)) > 0) {
    std::string_view chunk(buffer.get(), n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      if (pending.empty()) {
        writer.answer(chunk.substr(start, nl - start), ++line);
      } else {
        append_bounded(pending, chunk.substr(start, nl - start));
        writer.answer(pending, ++line);
        pending.clear();
      }
    }
    append_bounded(pending, chunk.substr(start));
    // An id already too long is refused now rather than held while the rest of its line
    // (a gigabyte without a newline, say) is read.
    if (pending.size() > max_id_bytes) writer.answer(pending, ++line);
  }
  if (std::ferror(in)) throw std::runtime_error("error reading ids from stdin");
  if (!pending.empty()) writer.answer(pending, ++line);
  writer.finish();
}

void print_owners(const Ring& ring, std::size_t count, const std::vector<std::string>& ids, std::FILE* out) {
  OwnerWriter writer(ring, count, out, "argument");
  for (std::size_t i = 0; i < ids.size(); ++i) writer.answer(ids[i], i + 1);
  writer.finish();
}

namespace {

// One answer of answer_lines()/answer_ids(), appended to `buffer`.
void append_answer(std::string& buffer, const Snapshot& view, std::size_t count, AnswerFormat format,
                   std::string_view id) {
  if (format == AnswerFormat::text) {
    if (count == 0) {
      if (auto owner = view.ring.owner(id)) buffer += *owner;
    } else {
      bool first = true;
      for (std::string_view owner : view.ring.owners(id, count)) {
        if (!first) buffer += '\t';
        buffer += owner;
        first = false;
      }
    }
    buffer += '\n';
    return;
  }
  nlohmann::json j = {{"id", std::string(id)}};
  if (count == 0) {
    auto owner = view.ring.owner(id);
    j["owner"] = owner ? nlohmann::json(std::string(*owner)) : nlohmann::json(nullptr);
  } else {
    nlohmann::json owners = nlohmann::json::array();
    for (std::string_view owner : view.ring.owners(id, count)) owners.push_back(std::string(owner));
    j["owners"] = std::move(owners);
  }
  j["revision"] = view.revision;
  buffer += json_text(j);
  buffer += '\n';
}

void flush_to(std::string& buffer, std::FILE* out) {
  if (std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size() || std::fflush(out) != 0) {
    throw std::runtime_error("error writing to stdout");
  }
  buffer.clear();
}

}  // namespace

void answer_lines(const std::function<std::shared_ptr<const Snapshot>()>& current, std::size_t count,
                  AnswerFormat format, int in_fd, std::FILE* out) {
  std::string buffer, pending;
  std::size_t line = 0;
  std::unique_ptr<char[]> chunk_memory(new char[1 << 16]);
  auto too_long = [&] {
    flush_to(buffer, out);
    throw UsageError("the id on line " + std::to_string(line + 1) + " is longer than " + std::to_string(max_id_bytes) +
                     " bytes; the lines printed answer the ids before it");
  };
  while (true) {
    ssize_t n = ::read(in_fd, chunk_memory.get(), 1 << 16);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("error reading ids from stdin: ") + std::strerror(errno));
    if (n == 0) break;
    std::shared_ptr<const Snapshot> view = current();  // the view when these lines arrived
    std::string_view chunk(chunk_memory.get(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      append_bounded(pending, chunk.substr(start, nl - start));
      if (pending.size() > max_id_bytes) too_long();
      append_answer(buffer, *view, count, format, pending);
      ++line;
      pending.clear();
    }
    append_bounded(pending, chunk.substr(start));
    if (pending.size() > max_id_bytes) too_long();
    flush_to(buffer, out);
  }
  if (!pending.empty()) append_answer(buffer, *current(), count, format, pending);
  flush_to(buffer, out);
}

void answer_ids(const Snapshot& view, std::size_t count, const std::vector<std::string>& ids, std::FILE* out) {
  std::string buffer;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].size() > max_id_bytes) {
      flush_to(buffer, out);
      throw UsageError("the id argument " + std::to_string(i + 1) + " is longer than " + std::to_string(max_id_bytes) +
                       " bytes; the lines printed answer the ids before it");
    }
    append_answer(buffer, view, count, AnswerFormat::json, ids[i]);
  }
  flush_to(buffer, out);
}

}  // namespace frodo::cli
