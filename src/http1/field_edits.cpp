#include "http1/field_edits.h"

#include "net/asio.h"

namespace modelgate::http1 {

void FieldEdits::set(std::string_view name, std::string_view value) {
  for (std::size_t i = 0; i < count_; ++i) {
    if (beast::iequals(edits_[i].name, name)) {
      edits_[i].value.assign(value);
      return;
    }
  }
  if (count_ == edits_.size()) edits_.emplace_back();
  Edit& e = edits_[count_++];
  e.name.assign(name);
  e.value.assign(value);
}

bool FieldEdits::touches(std::string_view name) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (beast::iequals(edits_[i].name, name)) return true;
  }
  return false;
}

const std::string* FieldEdits::value(std::string_view name) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (beast::iequals(edits_[i].name, name)) return edits_[i].value.empty() ? nullptr : &edits_[i].value;
  }
  return nullptr;
}

void FieldEdits::append_to(std::string& out) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (edits_[i].value.empty()) continue;
    out.append(edits_[i].name);
    out.append(": ");
    out.append(edits_[i].value);
    out.append("\r\n");
  }
}

}  // namespace modelgate::http1
