// The part of the mobile export that only libtorch's C++ API can do, behind a C ABI for
// `src/export/shim.rs`: compile a TorchScript source into a module that holds the weights,
// serialise it, run optimize-for-mobile and serialise the result for the lite interpreter.
//
// tch exposes none of this (its CModule keeps the module pointer private), so the weights come
// in as `at::Tensor*` (tch's `Tensor::as_ptr`) and the two archives go out as bytes; Rust
// writes the files. No C++ exception crosses the boundary: failures come back as a message.

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/mobile/compatibility/model_compatibility.h>
#include <torch/csrc/jit/passes/xnnpack_rewrite.h>
#include <torch/headeronly/version.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

namespace {

// What `bfpgm_sink` receives.
enum Part : int {
  kTorchScript = 0,  // the archive for `torch.jit.load`
  kLite = 1,         // the archive for the lite interpreter
  kError = 2,        // a message saying what failed
};

}  // namespace

extern "C" {

// Receives bytes from the shim; `ctx` is the caller's.
typedef void (*bfpgm_sink)(void* ctx, int part, const char* data, size_t len);

// The libtorch version the shim was compiled against (the wheel's headers).
const char* bfpgm_libtorch_version() { return TORCH_VERSION; }

// Builds a module of class `class_name` in eval mode (`training` false) with one more attribute,
// `w: Dict[str, Tensor]` (the `count` tensors under `names`, detached copies), and compiles
// `source` into it.
// Sends its TorchScript archive, then the archive of optimizeForMobile(module) (default passes:
// freeze, conv-BN folding, XNNPACK prepacking, ...) for the lite interpreter, whose bytecode
// version goes to `bytecode_version`. Returns 0, or 1 after sending an error message.
int bfpgm_export_compile(const char* class_name, const char* source,
                         const char* const* names, const void* const* tensors, size_t count,
                         bfpgm_sink sink, void* ctx, uint64_t* bytecode_version) {
  try {
    torch::jit::Module module{c10::QualifiedName(class_name)};
    module.register_attribute("training", c10::BoolType::get(), false);
    c10::Dict<std::string, at::Tensor> weights;
    for (size_t i = 0; i < count; ++i) {
      const auto* t = static_cast<const at::Tensor*>(tensors[i]);
      weights.insert(names[i], t->detach().clone());
    }
    module.register_attribute(
        "w", c10::DictType::create(c10::StringType::get(), c10::TensorType::get()), weights);
    module.define(source);

    std::ostringstream full;
    module.save(full);
    const std::string full_bytes = full.str();
    sink(ctx, kTorchScript, full_bytes.data(), full_bytes.size());

    std::ostringstream lite;
    torch::jit::optimizeForMobile(module)._save_for_mobile(lite);
    const std::string lite_bytes = lite.str();
    std::istringstream reread(lite_bytes);
    *bytecode_version = torch::jit::_get_model_bytecode_version(reread);
    sink(ctx, kLite, lite_bytes.data(), lite_bytes.size());
    return 0;
  } catch (const c10::Error& e) {
    const char* msg = e.what_without_backtrace();
    sink(ctx, kError, msg, std::strlen(msg));
  } catch (const std::exception& e) {
    sink(ctx, kError, e.what(), std::strlen(e.what()));
  }
  return 1;
}

}  // extern "C"
