#include "protocol/task_spec.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace fedge::protocol {
namespace {

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::Status CheckShape(const std::vector<int64_t>& shape, const char* what) {
  if (shape.size() > kMaxTaskRank) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has rank ", shape.size(), ", at most ", kMaxTaskRank));
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " [", ShapeString(shape), "] has a dimension <= 0"));
    }
    if (d > kMaxTaskElements / n) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " [", ShapeString(shape), "] has over ", kMaxTaskElements, " elements"));
    }
    n *= d;
  }
  return absl::OkStatus();
}

bool LossFits(LossKind loss, TargetKind target) {
  switch (loss) {
    case LossKind::kCrossEntropy:
      return target == TargetKind::kClass;
    case LossKind::kBceWithLogits:
      return target == TargetKind::kBinary || target == TargetKind::kMultiLabel;
    case LossKind::kMse:
    case LossKind::kL1:
      return target == TargetKind::kReal;
    case LossKind::kModule:
      return true;
  }
  return false;
}

}  // namespace

int64_t TaskSpec::InputSize() const { return Product(input_shape); }

int64_t TaskSpec::TargetSize() const {
  switch (target) {
    case TargetKind::kClass:
    case TargetKind::kBinary:
      return 1;
    case TargetKind::kMultiLabel:
      return num_classes;
    case TargetKind::kReal:
      return Product(target_shape);
  }
  return 1;
}

TaskSpec FashionMnistTask() { return TaskSpec(); }

LossKind DefaultLoss(TargetKind target) {
  switch (target) {
    case TargetKind::kClass:
      return LossKind::kCrossEntropy;
    case TargetKind::kBinary:
    case TargetKind::kMultiLabel:
      return LossKind::kBceWithLogits;
    case TargetKind::kReal:
      return LossKind::kMse;
  }
  return LossKind::kCrossEntropy;
}

absl::Status ValidateTaskSpec(const TaskSpec& spec) {
  if (spec.input_dtype != InputDType::kFloat32) {
    return absl::InvalidArgumentError(
        absl::StrCat("task input dtype ", static_cast<int>(spec.input_dtype), " is not float32"));
  }
  if (static_cast<uint8_t>(spec.target) > kMaxTargetKind) {
    return absl::InvalidArgumentError(
        absl::StrCat("task target kind ", static_cast<int>(spec.target), " is unknown"));
  }
  if (static_cast<uint8_t>(spec.loss) > kMaxLossKind) {
    return absl::InvalidArgumentError(
        absl::StrCat("task loss ", static_cast<int>(spec.loss), " is unknown"));
  }
  if (spec.input_shape.empty()) return absl::InvalidArgumentError("task input shape is empty");
  FEDGE_RETURN_IF_ERROR(CheckShape(spec.input_shape, "task input shape"));
  FEDGE_RETURN_IF_ERROR(CheckShape(spec.target_shape, "task target shape"));
  switch (spec.target) {
    case TargetKind::kClass:
      if (spec.num_classes < 2 || spec.num_classes > kMaxClasses) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a class target needs 2 to ", kMaxClasses, " classes, not ", spec.num_classes));
      }
      break;
    case TargetKind::kMultiLabel:
      if (spec.num_classes < 1 || spec.num_classes > kMaxClasses) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a multi-label target needs 1 to ", kMaxClasses, " labels, not ", spec.num_classes));
      }
      break;
    case TargetKind::kBinary:
    case TargetKind::kReal:
      if (spec.num_classes != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(TargetName(spec), " target with num_classes ", spec.num_classes));
      }
      break;
  }
  if (spec.target != TargetKind::kReal && !spec.target_shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("only real targets have a target shape, not ", TargetName(spec)));
  }
  if (!LossFits(spec.loss, spec.target)) {
    return absl::InvalidArgumentError(absl::StrCat("loss ", LossName(spec.loss),
                                                   " does not fit target ", TargetName(spec)));
  }
  return absl::OkStatus();
}

std::string ShapeString(const std::vector<int64_t>& shape) { return absl::StrJoin(shape, ","); }

std::string LossName(LossKind loss) {
  switch (loss) {
    case LossKind::kCrossEntropy:
      return "cross_entropy";
    case LossKind::kBceWithLogits:
      return "bce";
    case LossKind::kMse:
      return "mse";
    case LossKind::kL1:
      return "l1";
    case LossKind::kModule:
      return "module";
  }
  return absl::StrCat("loss#", static_cast<int>(loss));
}

std::string TargetName(const TaskSpec& spec) {
  switch (spec.target) {
    case TargetKind::kClass:
      return absl::StrCat("classes:", spec.num_classes);
    case TargetKind::kBinary:
      return "binary";
    case TargetKind::kMultiLabel:
      return absl::StrCat("multilabel:", spec.num_classes);
    case TargetKind::kReal:
      return spec.target_shape.empty() ? "real" : absl::StrCat("real:", ShapeString(spec.target_shape));
  }
  return absl::StrCat("target#", static_cast<int>(spec.target));
}

std::string DescribeTask(const TaskSpec& spec) {
  return absl::StrCat("input [", ShapeString(spec.input_shape), "] float32, target ",
                      TargetName(spec), ", loss ", LossName(spec.loss));
}

absl::StatusOr<std::vector<int64_t>> ParseShape(const std::string& text, const std::string& flag) {
  std::vector<int64_t> shape;
  if (text.empty()) return shape;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &d) || d <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, "=", text, ": want positive dimensions separated by commas, e.g. 30 or 1,28,28"));
    }
    shape.push_back(d);
  }
  absl::Status s = CheckShape(shape, ("--" + flag).c_str());
  if (!s.ok()) return s;
  return shape;
}

absl::Status ParseTarget(const std::string& text, const std::string& flag, TaskSpec* spec) {
  const std::string usage = absl::StrCat(
      "--", flag, "=", text, ": want classes:K (K >= 2), binary, multilabel:K, real or real:D1,D2...");
  std::pair<std::string, std::string> kv = absl::StrSplit(text, absl::MaxSplits(':', 1));
  spec->num_classes = 0;
  spec->target_shape.clear();
  uint32_t k = 0;
  if (kv.first == "classes" || kv.first == "multilabel") {
    if (!absl::SimpleAtoi(kv.second, &k)) return absl::InvalidArgumentError(usage);
    spec->target = kv.first == "classes" ? TargetKind::kClass : TargetKind::kMultiLabel;
    spec->num_classes = k;
  } else if (kv.first == "binary" && kv.second.empty()) {
    spec->target = TargetKind::kBinary;
  } else if (kv.first == "real") {
    spec->target = TargetKind::kReal;
    if (!kv.second.empty()) {
      absl::StatusOr<std::vector<int64_t>> shape = ParseShape(kv.second, flag);
      if (!shape.ok()) return absl::InvalidArgumentError(usage);
      spec->target_shape = *shape;
    }
  } else {
    return absl::InvalidArgumentError(usage);
  }
  const uint32_t min_classes = spec->target == TargetKind::kClass ? 2 : 1;
  if ((kv.first == "classes" || kv.first == "multilabel") && (k < min_classes || k > kMaxClasses)) {
    return absl::InvalidArgumentError(usage);
  }
  spec->loss = DefaultLoss(spec->target);
  return absl::OkStatus();
}

absl::StatusOr<LossKind> ParseLoss(const std::string& text, TargetKind target,
                                   const std::string& flag) {
  LossKind loss;
  if (text == "auto" || text.empty()) {
    loss = DefaultLoss(target);
  } else if (text == "cross_entropy") {
    loss = LossKind::kCrossEntropy;
  } else if (text == "bce") {
    loss = LossKind::kBceWithLogits;
  } else if (text == "mse") {
    loss = LossKind::kMse;
  } else if (text == "l1") {
    loss = LossKind::kL1;
  } else if (text == "module") {
    loss = LossKind::kModule;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", text, ": want auto, cross_entropy, bce, mse, l1 or module"));
  }
  if (!LossFits(loss, target)) {
    TaskSpec t;
    t.target = target;
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", text, " does not fit a ",
                                                   TargetName(t).substr(0, TargetName(t).find(':')),
                                                   " target (try auto)"));
  }
  return loss;
}

}  // namespace fedge::protocol
