// End-to-end: the real bwsim binary, its exit codes, messages and files.
#include <gtest/gtest.h>

#include "isa/calibration.hpp"
#include "isa/tensor_gen.hpp"
#include "isa/tensor_io.hpp"
#include "sim/rng.hpp"
#include "tests/test_util.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>
#include <sys/wait.h>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = bwsim::test_temp_dir("bwsim_cli_");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `env`: assignments put before the command ("NAME='value' ").
  Result run(const std::string& args, const std::string& env = "") {
    const std::string cmd = "cd '" + std::string(BWSIM_CONFIG_DIR_FOR_TESTS) +
                            "/..' && BWSIM_CONFIG_DIR= " + env + "'" + BWSIM_BINARY + "' " + args + " > '" +
                            (dir_ / "out").string() + "' 2> '" + (dir_ / "err").string() + "'";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir_ / "out"), slurp(dir_ / "err")};
  }
  // `command ARGS --json FILE` exits 2, names the problem on stderr, and writes no JSON.
  struct Rejected {
    std::string args;
    std::string message;
  };
  void expect_rejected(const std::string& command, std::initializer_list<Rejected> cases) {
    const std::string json = (dir_ / "rejected.json").string();
    for (const Rejected& c : cases) {
      Result r = run(command + " " + c.args + " --json '" + json + "'");
      EXPECT_EQ(r.code, 2) << c.args;
      EXPECT_CONTAINS(r.err, c.message);
      EXPECT_FALSE(fs::exists(json)) << c.args;
    }
  }
  fs::path dir_;
};

TEST_F(Cli, VersionAndHelp) {
  Result v = run("version");
  EXPECT_EQ(v.code, 0);
  EXPECT_CONTAINS(v.out, "bwsim 0.");
  EXPECT_EQ(run("--version").out, v.out);
  Result h = run("--help");
  EXPECT_EQ(h.code, 0);
  EXPECT_CONTAINS(h.out, "info");
  Result ih = run("info --help");
  EXPECT_EQ(ih.code, 0);
  EXPECT_CONTAINS(ih.out, "--hw");
  EXPECT_CONTAINS(ih.out, "--explain");
}

// The progress bar (sim/progress.hpp) is drawn on a terminal only: through a file, stderr stays
// empty; every simulating command takes --quiet.
TEST_F(Cli, ProgressIsForTerminalsAndQuietSilencesIt) {
  const Result g = run("gemm --m 4096 --n 4096 --k 4096 --functional off");
  EXPECT_EQ(g.code, 0);
  EXPECT_EQ(g.err, "");
  for (const char* args :
       {"gemm --m 256 --n 256 --k 256 --quiet",
        "attention --seq 256 --heads 8 --head-dim 64 --functional off --quiet",
        "model --model llama-3.1-8b --quiet", "numerics --model llama-3.1-8b --layers 1 --quiet"}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    EXPECT_EQ(r.err, "") << args;
  }
}

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").code, 2);
  Result u = run("frobnicate");
  EXPECT_EQ(u.code, 2);
  EXPECT_CONTAINS(u.err, "unknown command 'frobnicate'");
  Result o = run("info --hww b200");
  EXPECT_EQ(o.code, 2);
  EXPECT_CONTAINS(o.err, "--hww");
  // A negative number for an unsigned option is refused, not wrapped to 2^64 - 1.
  Result n = run("gemm --m 64 --n 64 --k 64 --seed -1");
  EXPECT_EQ(n.code, 2);
  EXPECT_CONTAINS(n.err, "--seed -1: expected a non-negative integer");
  EXPECT_EQ(run("gemm --m 64 --n 64 --k 64 --seed=-1").code, 2);
}

TEST_F(Cli, InfoPrintsResolvedConfigAndPeaks) {
  Result r = run("info --hw configs/hw/b200.toml");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "NVIDIA B200");
  EXPECT_CONTAINS(r.out, "2.25 PFLOP/s");
  EXPECT_CONTAINS(r.out, "9 PFLOP/s");
  EXPECT_CONTAINS(r.out, "hbm.bandwidth");
  EXPECT_CONTAINS(r.out, "configs/hw/b200.toml:");
  Result e = run("info --hw b200 --explain");
  EXPECT_CONTAINS(e.out, "peak pin bandwidth, whole chip");
}

TEST_F(Cli, InfoWritesResolvedConfigAsJson) {
  const fs::path out = dir_ / "out.json";
  Result r = run("info --hw configs/hw/b200.toml --set sm.count=160 --json '" + out.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = boost::json::parse(slurp(out));
  EXPECT_EQ(doc.at("config").at("hbm").at("bandwidth").as_string(), "7.7 TB/s");
  EXPECT_EQ(doc.at("config").at("sm").at("count").as_int64(), 160);
  EXPECT_NEAR(boost::json::value_to<double>(doc.at("derived").at("peak_flops_datasheet").at("nvfp4")),
              9e15 * 160 / 148, 1e12);
  // Same inputs, same bytes.
  const std::string first = slurp(out);
  ASSERT_EQ(run("info --hw configs/hw/b200.toml --set sm.count=160 --json '" + out.string() + "'").code, 0);
  EXPECT_EQ(slurp(out), first);
}

TEST_F(Cli, MisspeltKeyExitsTwoNamingFileLineAndKeyAndWritesNothing) {
  const fs::path out = dir_ / "out.json";
  Result r = run("info --hw tests/data/config/b200_typo.toml --json '" + out.string() + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "b200_typo.toml:5: unknown key 'hbm.bandwith' (did you mean 'hbm.bandwidth'?)");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, BadOverridesAndMissingFilesExitTwo) {
  Result s = run("info --set 'hbm.bandwidth=8 GHz'");
  EXPECT_EQ(s.code, 2);
  EXPECT_CONTAINS(s.err, "--set hbm.bandwidth=8 GHz: 'hbm.bandwidth' is wrong: unknown unit \"GHz\"");
  Result f = run("info --hw nope.toml");
  EXPECT_EQ(f.code, 2);
  EXPECT_CONTAINS(f.err, "--hw: no such file 'nope.toml'");
  Result j = run("info --json /nonexistent/dir/out.json");
  EXPECT_EQ(j.code, 2);
  EXPECT_CONTAINS(j.err, "--json /nonexistent/dir/out.json");
}

TEST_F(Cli, FormatsConvertAndDecodeHexBitExactly) {
  const fs::path in = dir_ / "in.txt";
  std::ofstream(in) << "0x3f800000 0x40200000\n0x43e80000 0x7fc00000 0x40a00000 0x40a00001\n";
  Result r = run("formats convert --to e2m1 < '" + in.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0x2\n0x4\n0x7\n0x7\n0x6\n0x7\n");  // 1, 2.5->2, 464->6, NaN->+6, 5->4, 5.0000005->6
  std::ofstream(in) << "0x43e80000 0x43e81000";
  EXPECT_EQ(run("formats convert --to e4m3 < '" + in.string() + "'").out, "0x7e\n0x7e\n");
  EXPECT_EQ(run("formats convert --to e4m3 --no-saturate < '" + in.string() + "'").out, "0x7e\n0x7f\n");
  std::ofstream(in) << "0x7e 0x01 0x80";
  EXPECT_EQ(run("formats decode --from e4m3 < '" + in.string() + "'").out,
            "0x43e00000\n0x3b000000\n0x80000000\n");
  std::ofstream(in) << "0x3fa00000 0x3fa00000 0x3fa00000 0x3fa00000";  // 1.25 in E2M1: a coin flip
  Result s1 = run("formats convert --to e2m1 --round stochastic --seed 7 < '" + in.string() + "'");
  Result s2 = run("formats convert --to e2m1 --round stochastic --seed 7 < '" + in.string() + "'");
  EXPECT_EQ(s1.code, 0);
  EXPECT_EQ(s1.out, s2.out);
}

TEST_F(Cli, FormatsRejectsBadInputWithoutPartialOutput) {
  const fs::path in = dir_ / "in.txt";
  std::ofstream(in) << "0x3f800000 0xZZ";
  Result r = run("formats convert --to e4m3 < '" + in.string() + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_CONTAINS(r.err, "stdin token 2 ('0xZZ')");
  std::ofstream(in) << "0x10";
  Result d = run("formats decode --from e2m1 < '" + in.string() + "'");
  EXPECT_EQ(d.code, 2);
  EXPECT_CONTAINS(d.err, "does not fit e2m1 (4 bits)");
  EXPECT_EQ(run("formats convert --to e4m4 < '" + in.string() + "'").code, 2);
  Result s = run("formats convert --to e4m3 --round stochastic < '" + in.string() + "'");
  EXPECT_EQ(s.code, 2);
  EXPECT_CONTAINS(s.err, "needs --seed");
}

TEST_F(Cli, QuantizeCompareTable) {
  Result t = run("quantize --compare nvfp4,mxfp4,fp8_e4m3,bf16 --in gen:student-t:64x512:seed=3");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_CONTAINS(t.out, "4.501");  // NVFP4 bits per element: 4 + 8/16 + 32/(64*512)
  Result r = run("quantize --compare nvfp4,mxfp4,fp8_e4m3,bf16 --in gen:student-t:64x512:seed=3 --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = boost::json::parse(r.out);  // with --json -, stdout is only the JSON document
  const auto& res = doc.at("results").as_array();
  ASSERT_EQ(res.size(), 4u);
  const double nv = res[0].at("error").at("rel_frobenius").as_double();
  const double mx = res[1].at("error").at("rel_frobenius").as_double();
  const double f8 = res[2].at("error").at("rel_frobenius").as_double();
  EXPECT_LT(nv, mx);
  EXPECT_LT(f8, nv);
  EXPECT_EQ(res[0].at("bits_per_element").as_double(), 4.5 + 32.0 / (64 * 512));
}

TEST_F(Cli, QuantizeWritesCodesScalesAndDequantized) {
  const std::string prefix = (dir_ / "w").string();
  Result r = run("quantize --scheme nvfp4 --in gen:normal:128x64:seed=1 --out '" + prefix + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* ext :
       {".codes.npy", ".packed.npy", ".scales.npy", ".scales_swizzled.npy", ".dequant.npy", ".json"}) {
    EXPECT_TRUE(fs::exists(prefix + ext)) << ext;
  }
  EXPECT_EQ(fs::file_size(prefix + ".packed.npy") - 128, 128u * 64 / 2);  // header padded to 128 bytes here
  const auto meta = boost::json::parse(slurp(prefix + ".json"));
  EXPECT_EQ(meta.at("scheme").as_string(), "nvfp4");
  EXPECT_GT(meta.at("error").at("sqnr_db").as_double(), 15.0);
  EXPECT_EQ(meta.at("files").as_array().size(), 6u);
}

TEST_F(Cli, QuantizeReadsSafetensorsByName) {
  std::string data(2 * 32 * 4, '\0');
  for (int i = 0; i < 64; ++i) {
    const float v = static_cast<float>(i % 7) - 3.0f;
    std::memcpy(data.data() + 4 * i, &v, 4);
  }
  const std::string header = R"({"layer.w":{"dtype":"F32","shape":[2,32],"data_offsets":[0,256]}})";
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  std::ofstream(dir_ / "m.safetensors", std::ios::binary) << file + header + data;
  Result r =
      run("quantize --compare mxfp8_e4m3,nvfp4 --in '" + (dir_ / "m.safetensors").string() + ":layer.w'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "m.safetensors:layer.w  float32 [2, 32]");
}

// #28: calibrate on one distribution, deploy on a shifted one; the scale it writes is the one a
// later quantize --scales applies; a calibration on the tensor itself is the dynamic answer.
TEST_F(Cli, CalibrateWritesAStaticScaleThatQuantizeApplies) {
  const std::string scales = (dir_ / "scales.safetensors").string();
  Result c =
      run("calibrate --scheme nvfp4 --calib gen:outliers:64x256:seed=1 gen:outliers:64x256:seed=2 "
          "--eval gen:outliers:64x256:seed=3:k=4 --name model.layers.0.mlp.down_proj --out '" +
          scales + "' --json -");
  ASSERT_EQ(c.code, 0) << c.err;
  const auto doc = boost::json::parse(c.out);
  EXPECT_EQ(doc.at("tensor").as_string(), "model.layers.0.mlp.down_proj.input_scale");
  const double amax = doc.at("calibrated_amax").as_double();
  EXPECT_EQ(doc.at("scale").as_double(), static_cast<double>(static_cast<float>(amax / 2688)));
  const auto& ev = doc.at("evaluated").as_array().at(0);
  EXPECT_GT(ev.at("saturated").as_int64(), 0);
  EXPECT_LT(ev.at("error").at("sqnr_db").as_double(), ev.at("dynamic_error").at("sqnr_db").as_double());
  ASSERT_TRUE(fs::exists(scales));
  Result q = run("quantize --scheme nvfp4 --in gen:outliers:64x256:seed=3:k=4 --scales '" + scales +
                 "' --out '" + (dir_ / "q").string() + "' --json -");
  ASSERT_EQ(q.code, 0) << q.err;
  const auto qd = boost::json::parse(q.out).at("results").as_array().at(0);
  EXPECT_EQ(qd.at("static").at("saturated").as_int64(), ev.at("saturated").as_int64());
  EXPECT_EQ(qd.at("error").at("sqnr_db").as_double(), ev.at("error").at("sqnr_db").as_double());
  // Calibrated on the tensor itself: the dynamic SQNR.
  Result self = run("calibrate --scheme fp8_e4m3 --calib gen:student-t:32x128:seed=4 --json -");
  ASSERT_EQ(self.code, 0) << self.err;
  const auto self_doc = boost::json::parse(self.out);
  const auto& se = self_doc.at("evaluated").as_array().at(0);
  EXPECT_EQ(se.at("error").at("sqnr_db").as_double(), se.at("dynamic_error").at("sqnr_db").as_double());
  EXPECT_CONTAINS(run("calibrate --scheme nvfp4 --calib gen:normal:8x64").out, "saturated");
  // Smoothing writes the per-channel pre_quant_scale beside the input scale.
  const std::string smoothed = (dir_ / "smooth.safetensors").string();
  Result sm =
      run("calibrate --scheme nvfp4 --calib gen:outliers:32x128:seed=1 --weight gen:normal:64x128:seed=2 "
          "--smooth smoothquant:0.5 --name l0.down --out '" +
          smoothed + "'");
  ASSERT_EQ(sm.code, 0) << sm.err;
  EXPECT_CONTAINS(sm.out, "SmoothQuant, alpha 0.5");
  EXPECT_EQ(bwsim::read_safetensors(smoothed, "l0.down.pre_quant_scale").tensor.data.size(), 128u);
  // Fused q/k/v: one weight_scale_2 over the three weights, the largest amax of the group, under
  // each projection's name.
  const std::string fused = (dir_ / "qkv.safetensors").string();
  Result fq = run(
      "calibrate --scheme nvfp4 --role weight --calib gen:normal:64x128:seed=1 gen:student-t:16x128:seed=2 "
      "gen:normal:16x128:seed=3 --name l0.q_proj l0.k_proj l0.v_proj --out '" +
      fused + "' --json -");
  ASSERT_EQ(fq.code, 0) << fq.err;
  const auto fdoc = boost::json::parse(fq.out);
  EXPECT_EQ(fdoc.at("tensors").as_array().size(), 3u);
  double group_amax = 0;
  for (const auto& e : fdoc.at("evaluated").as_array())
    group_amax = std::max(group_amax, e.at("amax").as_double());
  EXPECT_EQ(fdoc.at("calibrated_amax").as_double(), group_amax);
  for (const char* p : {"l0.q_proj", "l0.k_proj", "l0.v_proj"}) {
    const auto t = bwsim::read_safetensors(fused, std::string(p) + ".weight_scale_2").tensor;
    ASSERT_EQ(t.data.size(), 1u);
    EXPECT_EQ(t.data[0], static_cast<float>(fdoc.at("scale").as_double())) << p;
  }
  const std::string out = (dir_ / "never.safetensors").string();
  expect_rejected(
      "calibrate",
      {
          {"--scheme mxfp4 --calib gen:normal:8x64", "no per-tensor scale"},
          {"--scheme nvfp4", "--calib SPEC is required"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --method kl", "--method kl"},
          {"--scheme nvfp4 --calib gen:normal:8x64:nu=3", "'nu' is not a parameter"},
          {"--scheme nvfp4 --calib gen:normal:8x60", "not a multiple of NVFP4's 16"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --out '" + out + "' --role bias", "--role bias"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --eval gen:normal:8x32 --out '" + out +
               "' --method history:0",
           "history length"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --out x.npy", "a .safetensors file"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --smooth awq", "go together"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --weight gen:normal:16x32 --smooth awq", "K = 32"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --weight gen:normal:16x64 --smooth sq", "--smooth sq"},
          {"--scheme nvfp4 --calib gen:normal:8x64 --out '" + out + "' --name a.q a.q",
           "--name a.q: given twice"},
      });
  EXPECT_FALSE(fs::exists(out));
  expect_rejected("quantize", {
                                  {"--scheme fp8_e4m3 --in gen:normal:8x64 --out '" + (dir_ / "f").string() +
                                       "' --scales '" + scales + "'",
                                   "a scale calibrated for nvfp4, not fp8_e4m3"},
                                  {"--scheme nvfp4 --in gen:normal:8x64 --out '" + (dir_ / "f").string() +
                                       "' --scales '" + scales + ":nope'",
                                   "no tensor named 'nope'"},
                                  {"--compare nvfp4,mxfp4 --in gen:normal:8x64 --scales '" + scales + "'",
                                   "does not combine with --compare"},
                              });
  EXPECT_FALSE(fs::exists(dir_ / "f.codes.npy"));
}

TEST_F(Cli, QuantizeBadInputExitsTwoAndWritesNothing) {
  const std::string prefix = (dir_ / "bad").string();
  Result k = run("quantize --scheme nvfp4 --in gen:normal:4x40 --out '" + prefix + "'");
  EXPECT_EQ(k.code, 2);
  EXPECT_CONTAINS(k.err,
                  "K = 40 (the last dimension of shape [4, 40]) is not a multiple of the block size 16");
  Result o = run("quantize --scheme mxfp4 --2d --in gen:normal:16x64 --out '" + prefix + "'");
  EXPECT_EQ(o.code, 2);
  EXPECT_CONTAINS(o.err, "apply to nvfp4, not mxfp4");
  EXPECT_EQ(run("quantize --scheme nvfp4 --in gen:normal:16x64").code, 2);  // no --out
  EXPECT_EQ(run("quantize --scheme nvfp5 --in gen:normal:16x64 --out x").code, 2);
  std::ofstream(dir_ / "t.npy", std::ios::binary)
      << std::string("\x93NUMPY\x01\x00\x10\x00{'descr': '<f4',", 24);
  Result t = run("quantize --scheme nvfp4 --in '" + (dir_ / "t.npy").string() + "' --out '" + prefix + "'");
  EXPECT_EQ(t.code, 2);
  EXPECT_CONTAINS(t.err, "t.npy");
  Result g = run("quantize --compare nvfp4 --in gen:normal:0x16");
  EXPECT_EQ(g.code, 2);
  EXPECT_CONTAINS(g.err, "positive integers");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 3u);  // out, err, t.npy: nothing from the failed runs
}

TEST_F(Cli, MicroRunsAndReportsJson) {
  Result l = run("micro list");
  EXPECT_EQ(l.code, 0);
  EXPECT_CONTAINS(l.out, "tma-bandwidth");
  Result r = run("micro mma-latency --hw b200 --m 128 --n 256 --a-tmem --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = boost::json::parse(r.out);
  EXPECT_NEAR(boost::json::value_to<double>(doc.at("rows").at(0).at("cycles")), 232, 2);
  Result bad = run("micro mma-latency --hw h100 --kind mxf4nvf4 --m 64");
  EXPECT_EQ(bad.code, 2);
  EXPECT_CONTAINS(bad.err, "sm_90 has no kind::mxf4nvf4 tensor instructions");
  EXPECT_EQ(run("micro nope").code, 2);
  Result inflight = run("micro tma-bandwidth --inflight 16KB");
  EXPECT_EQ(inflight.code, 2);
  EXPECT_CONTAINS(inflight.err, "ambiguous");
  Result trailing = run("micro tma-bandwidth --inflight 64KiB,");
  EXPECT_EQ(trailing.code, 2);
  EXPECT_CONTAINS(trailing.err, "--inflight 64KiB,: an empty entry");
}

TEST_F(Cli, RopePrintsFrequenciesAndCosSin) {
  const std::string json = (dir_ / "r.json").string();
  Result r = run(
      "rope --type yarn:factor=4,original=32768,theta=1000000 --head-dim 128 --positions 0,131071 --json '" +
      json + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "attention factor 1.13862944");
  EXPECT_CONTAINS(r.out, "YaRN correction range dims [23, 40]");
  EXPECT_CONTAINS(r.out, "cos@131071");
  const boost::json::object doc = boost::json::parse(slurp(json)).as_object();
  EXPECT_EQ(doc.at("rotary_dims").as_int64(), 128);
  EXPECT_EQ(doc.at("inv_freq").as_array().size(), 64u);
  EXPECT_DOUBLE_EQ(doc.at("inv_freq").as_array()[0].to_number<double>(), 1.0);
  const auto& p0 = doc.at("positions").as_array()[0].as_object();
  EXPECT_NEAR(p0.at("cos").as_array()[0].to_number<double>(), 1.138629, 1e-6);  // cos(0) x attention factor
  EXPECT_EQ(p0.at("sin").as_array()[5].to_number<double>(), 0.0);
}

TEST_F(Cli, RopeBadInputExitsTwoAndWritesNothing) {
  expect_rejected("rope", {
                              {"--type yarn:factor=4 --head-dim 128", "yarn needs original=N"},
                              {"--type yarn:factor=0,original=4096 --head-dim 128", "factor > 0"},
                              {"--type longrope:original=4096,short=1/2,long=1/2 --head-dim 128",
                               "need 64 (one per frequency)"},
                              {"--type spiral --head-dim 128", "unknown RoPE type 'spiral'"},
                              {"--type default --head-dim 128 --positions 1,-3", "--positions 1,-3"},
                              {"--type default --head-dim 128 --precision f16", "--precision f16"},
                              {"--type default", "--head-dim D is required"},
                          });
}

TEST_F(Cli, AttentionReportsErrorPerBucketAsJson) {
  const std::string json = (dir_ / "a.json").string();
  Result r = run(
      "attention --hw b200 --seq 5000 --q-len 5000 --heads 4 --kv-heads 2 --head-dim 64 --causal "
      "--rope llama3:factor=8,original=1024,theta=500000 --kv-format nvfp4 --functional sample:4 --json '" +
      json + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "KV cache    nvfp4 (4.5 bits/element)");
  EXPECT_CONTAINS(r.out, "0-4K");
  EXPECT_CONTAINS(r.out, "4K-32K");
  EXPECT_CONTAINS(r.out, "roofline");
  const boost::json::object doc = boost::json::parse(slurp(json)).as_object();
  const auto& f = doc.at("functional").as_object();
  EXPECT_EQ(f.at("rows").to_number<uint64_t>(), 4u);
  EXPECT_EQ(f.at("buckets").as_array().size(), 2u);
  EXPECT_GT(f.at("error").as_object().at("rel_frobenius").to_number<double>(), 0.0);
  // 5000 tokens x 2 KV heads x 64 dims x (K and V) x 4.5 bits.
  EXPECT_DOUBLE_EQ(doc.at("work").at("bytes").at("kv_cache").to_number<double>(),
                   5000.0 * 2 * 64 * 2 * 4.5 / 8);
  // The kernels' timing: a prefill of 5000 queries, RoPE as its own kernel first.
  EXPECT_CONTAINS(r.out, "fa4-like tcgen05 prefill");
  const auto& t = doc.at("timing").as_object();
  EXPECT_GT(t.at("time").at("us").to_number<double>(), 0.0);
  EXPECT_EQ(t.at("kernels").as_array().front().as_object().at("name").as_string(), "rope");
}

TEST_F(Cli, AttentionDecodeStepTiming) {
  Result r =
      run("attention --hw h100 --seq 65536 --q-len 1 --heads 32 --kv-heads 8 --head-dim 128 --causal "
          "--kv-format fp8_e4m3 --functional off --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out).as_object();
  const auto& t = doc.at("timing").as_object();
  EXPECT_CONTAINS(std::string(t.at("kernel").as_string()), "split-KV decode");
  EXPECT_EQ(t.at("bound").as_string(), "HBM");
  EXPECT_EQ(t.at("kernels").as_array().size(), 2u);  // the attention kernel and the split-KV reduction
}

// --l2-flush times the layer as a benchmark that flushes L2 by writing does: slower, and said so.
TEST_F(Cli, AttentionAfterAnL2Flush) {
  const std::string decode =
      "attention --hw b200 --batch 32 --seq 2048 --q-len 1 --heads 64 --kv-heads 8 --head-dim 128 "
      "--functional off --json -";
  Result clean = run(decode);
  Result flushed = run(decode + " --l2-flush \"256 MiB\"");
  ASSERT_EQ(clean.code, 0) << clean.err;
  ASSERT_EQ(flushed.code, 0) << flushed.err;
  const boost::json::object c = boost::json::parse(clean.out).as_object();
  const boost::json::object f = boost::json::parse(flushed.out).as_object();
  EXPECT_FALSE(c.contains("l2_flush_bytes"));
  EXPECT_EQ(f.at("l2_flush_bytes").as_int64(), int64_t{256} << 20);
  const auto us = [](const boost::json::object& d) {
    return d.at("timing").as_object().at("time").as_object().at("us").to_number<double>();
  };
  EXPECT_GT(us(f), us(c) * 1.2);
}

TEST_F(Cli, AttentionBadInputExitsTwoAndWritesNothing) {
  expect_rejected(
      "attention",
      {
          {"--seq 128 --heads 6 --kv-heads 4 --head-dim 64", "--heads 6 --kv-heads 4"},
          {"--seq 128 --q-len 200 --heads 4 --head-dim 64", "--q-len 200"},
          {"--seq 128 --heads 4 --head-dim 48 --kv-format mxfp8", "not a multiple of mxfp8's scale block"},
          {"--seq 128 --heads 4 --head-dim 64 --kv-format fp7", "--kv-format fp7"},
          {"--seq 128 --heads 4 --head-dim 64 --rope yarn:factor=4", "yarn needs original=N"},
          {"--seq 128 --heads 4 --head-dim 64 --rope yarn:factor=-1,original=64", "factor > 0"},
          {"--heads 4 --head-dim 64", "--seq is required"},
          {"--seq 128 --heads 4 --head-dim 64 --exp-on-fma 2", "--exp-on-fma 2"},
          {"--seq 128 --heads 4 --head-dim 64 --block-n 20", "--block-n 20"},
          {"--seq 128 --heads 4 --head-dim 64 --window 16",
           "--window 16: a sliding window is >= 1 and needs causal"},
          {"--seq 128 --heads 4 --head-dim 64 --causal --window -1", "--window -1"},
          {"--seq 128 --heads 4 --head-dim 64 --rope-mode inline", "--rope-mode inline"},
          {"--seq 128 --heads 4 --head-dim 72", "--head-dim 72"},
          {"--hw rtx5090 --set 'smem.max_per_cta=\"8 KiB\"' --seq 128 --heads 4 --head-dim 256", "SMEM"},
          {"--seq 128 --heads 4 --head-dim 128 --rope-dim 24", "--rope-dim 24"},
          {"--seq 128 --heads 4 --head-dim 128 --rope-dim 64 --kv-format fp8_e4m3:head", "no per-head scale"},
          {"--seq 128 --heads 4 --head-dim 256 --rope-dim 64", "--head-dim 256 + --rope-dim 64"},
          {"--seq 128 --heads 4 --head-dim 64 --l2-flush 256MHz", "--l2-flush 256MHz"},
          // Was "internal error: tensor K cache is too large to track", exit 1.
          {"--seq 1000000000000 --q-len 1 --heads 8 --head-dim 128 --functional off", "--seq 1000000000000"},
          // Ran on with no end in sight.
          {"--seq 1024 --heads 100000000 --kv-heads 8 --head-dim 128 --functional off", "--heads 100000000"},
          {"--seq 1048576 --q-len 1 --heads 64 --kv-heads 8 --head-dim 128 --batch 65536 --functional off",
           "of simulator memory"},
      });
}

TEST_F(Cli, ModelReportsParametersBytesAndFit) {
  Result r = run("model --model llama-3.1-70b --hw h100 --context 8192 --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out).as_object();
  EXPECT_NEAR(boost::json::value_to<double>(doc.at("model").at("params").at("total")) / 70.6e9, 1.0, 0.01);
  const auto& mem = doc.at("memory").as_object();
  EXPECT_FALSE(mem.at("fits").as_bool());  // 141 GB of BF16 weights on an 80 GB GPU
  EXPECT_EQ(mem.at("smallest_tp").as_int64(), 4);
  Result t = run("model --model llama-3.1-70b --hw h100");
  EXPECT_CONTAINS(t.out, "DOES NOT FIT");
  EXPECT_CONTAINS(t.out, "smallest TP that fits: 4");
  Result nv = run("model --model llama-3.1-70b --hw b200 --weights nvfp4 --kv-format fp8_e4m3 --json -");
  ASSERT_EQ(nv.code, 0) << nv.err;
  EXPECT_TRUE(boost::json::parse(nv.out).at("memory").at("fits").as_bool());
  expect_rejected("model", {
                               {"--model nosuch", "--model: no such file 'nosuch'"},
                               {"--model llama-3.1-70b --weights fp5", "--weights fp5"},
                               {"--model llama-3.1-70b --tp 3", "--tp 3"},
                               {"--model llama-3.1-70b --model-set attention.kv_heads=7", "kv_heads = 7"},
                               {"--model llama-3.1-70b --model-set attention.windows=7", "attention.windows"},
                           });
}

TEST_F(Cli, NumericsComparesFormatsThroughAModel) {
  Result r =
      run("numerics --model llama-3.1-8b --formats bf16,nvfp4 --tokens 8 --vocab 128 --layers 1 --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out.substr(r.out.find("{\n"))).as_object();
  const auto& rows = doc.at("results").as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].at("format"), "nvfp4");
  EXPECT_GT(rows[0].at("logits").at("sqnr_db").to_number<double>(),
            rows[1].at("logits").at("sqnr_db").to_number<double>());
  EXPECT_EQ(doc.at("replica").at("layers").to_number<int>(), 1);
  expect_rejected("numerics", {{"--model llama-3.1-8b --formats bf16,fp5", "unknown format 'fp5'"},
                               {"--model llama-3.1-8b --hw h100 --formats nvfp4", "--formats nvfp4"},
                               {"--model llama-3.1-8b --layers 0", "--layers 0"},
                               {"--model llama-3.1-8b --kv-format fp3", "--kv-format fp3"},
                               {"--model llama-3.1-8b --calib-prompts 100", "--calib-prompts 100"},
                               {"--model llama-3.1-8b --deploy-outliers 0", "--deploy-outliers 0"},
                               {"--model llama-3.1-8b --sensitivity fp5", "--sensitivity: unknown format"},
                               {"--model llama-3.1-8b --outlier-layer 2", "--outlier-layer 2"},
                               {"--model llama-3.1-8b --plan-search 6", "--plan-search needs --sensitivity"},
                               {"--model llama-3.1-8b --keep-layers 0,5", "keep_layers 5"},
                               {"--model llama-3.1-8b --keep-layers 0,x", "'x' is not a layer index"},
                               {"--model llama-3.1-8b --scales-out s.safetensors", "needs --calib-prompts"}});
  // Static rows beside the dynamic ones, and a sensitivity ranking.
  Result st =
      run("numerics --model llama-3.1-8b --formats bf16,fp8_e4m3 --layers 1 --tokens 8 --width 256 "
          "--vocab 256 --calib-prompts 1 --sensitivity nvfp4 --json -");
  ASSERT_EQ(st.code, 0) << st.err;
  const auto sdoc = boost::json::parse(st.out);
  const auto& srows = sdoc.at("results").as_array();
  ASSERT_EQ(srows.size(), 3u);  // bf16, fp8_e4m3, fp8_e4m3 static
  EXPECT_EQ(srows[2].at("format").as_string(), "fp8_e4m3 static");
  EXPECT_TRUE(srows[2].at("static_scales").as_bool());
  EXPECT_EQ(sdoc.at("sensitivity").as_array().size(), 1u);
  // The replica's calibrated activation scales, named as a checkpoint's.
  const std::string rs = (dir_ / "replica.safetensors").string();
  const std::string args = "--model llama-3.1-8b --layers 1 --tokens 8 --width 256 --vocab 256 ";
  const std::string replica = "numerics " + args;
  Result w = run(replica + "--formats nvfp4 --calib-prompts 1 --scales-out '" + rs + "' --json '" +
                 (dir_ / "a.json").string() + "'");
  ASSERT_EQ(w.code, 0) << w.err;
  // Read back with --scales: the static row's numbers exactly as calibrated.
  Result back = run(replica + "--formats nvfp4 --scales '" + rs + "' --json -");
  ASSERT_EQ(back.code, 0) << back.err;
  const auto calibrated = boost::json::parse(slurp(dir_ / "a.json")).at("results").as_array().at(1);
  const auto given = boost::json::parse(back.out).at("results").as_array().at(1);
  EXPECT_EQ(given.at("format").as_string(), "nvfp4 static");
  EXPECT_EQ(given.at("logits").at("sqnr_db").as_double(), calibrated.at("logits").at("sqnr_db").as_double());
  const std::string lone = (dir_ / "lone.safetensors").string();  // one unnamed input_scale
  ASSERT_EQ(run("calibrate --scheme nvfp4 --calib gen:normal:8x64 --out '" + lone + "'").code, 0);
  expect_rejected("numerics", {{args + "--scales '" + rs + "' --calib-prompts 1", "one or the other"},
                               {args + "--formats bf16 --scales '" + rs + "'", "no NVFP4 or FP8 format"},
                               {args + "--scales '" + lone + "'", "no input_scale"}});
  EXPECT_GT(bwsim::read_static_scale(rs + ":model.layers.0.mlp.down_proj.input_scale", bwsim::Scheme::kNvfp4,
                                     "--scales")
                .amax,
            0);
  EXPECT_EQ(
      bwsim::read_static_scale(rs + ":model.layers.0.self_attn.q_proj.input_scale", bwsim::Scheme::kNvfp4,
                               "--scales")
          .amax,
      bwsim::read_static_scale(rs + ":model.layers.0.self_attn.v_proj.input_scale", bwsim::Scheme::kNvfp4,
                               "--scales")
          .amax);  // one fused QKV GEMM: one scale
}

TEST_F(Cli, RunReportsAScenarioOrWhyItDoesNotFit) {
  const std::string scenario =
      std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/scenarios/llama70b-nvfp4-b200.toml";
  // A small model on the same scenario keeps the test quick.
  Result r = run("run '" + scenario +
                 "' --model llama-3.1-8b --set serving.output=16 --set simulation.gemm_finalists=1 "
                 "--set simulation.decode_samples=2 --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out).as_object();
  EXPECT_TRUE(doc.at("memory").at("fits").as_bool());
  const double itl = boost::json::value_to<double>(doc.at("decode").at("itl_ms"));
  const double mtp_itl = boost::json::value_to<double>(doc.at("mtp").at("itl_ms"));
  EXPECT_GT(itl, mtp_itl);
  EXPECT_NEAR(boost::json::value_to<double>(doc.at("mtp").at("tokens_per_pass")), 2.952, 1e-9);
  // BF16 70B on one H100: reported as not fitting, with the smallest TP, exit 0.
  Result big = run("run '" + scenario + "' --hw h100 --set 'quantization.weights=\"bf16\"'");
  ASSERT_EQ(big.code, 0) << big.err;
  EXPECT_CONTAINS(big.out, "DOES NOT FIT at TP 1");
  EXPECT_CONTAINS(big.out, "the smallest TP that fits is 2");  // 70.5 GB a GPU; FP8 KV of 2.5K tokens
  expect_rejected(
      "run", {
                 {"nosuch.toml", "scenario: no such file 'nosuch.toml'"},
                 {"'" + scenario + "' --set serving.prompt=0", "serving.prompt"},
                 {"'" + scenario + "' --set serving.users=3", "serving.users"},
                 {"'" + scenario + "' --set mtp.acceptance=1.5", "acceptance must be in [0, 1]"},
                 {"'" + scenario + "' --hw h100", "[quantization] attention weights nvfp4 on NVIDIA H100"},
             });
}

TEST_F(Cli, AttentionReadsQkvFromFiles) {
  // Q, K, V written from the generators' own streams (seed 7): the same numbers as generating them.
  using bwsim::Distribution;
  const auto write = [&](const char* name, Distribution d, uint64_t which, std::vector<int64_t> shape) {
    const int64_t cols = shape.back();
    const int64_t rows = 64 * 2 * 1;  // seq x heads (Q) or seq x kv_heads x 2 (K, V): 128 rows either way
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      bwsim::generate_row(d, r, cols, bwsim::random_at(7, which), v.data() + r * cols);
    const std::string path = (dir_ / name).string();
    bwsim::write_npy_f32(path, shape, v);
    return path;
  };
  const std::string q = write("q.npy", Distribution::kNormal, 1, {1, 64, 2, 32});
  const std::string k = write("k.npy", Distribution::kOutliers, 2, {1, 64, 2, 32});
  const std::string v = write("v.npy", Distribution::kNormal, 3, {1, 64, 2, 32});
  const std::string common =
      "attention --hw b200 --seq 64 --heads 2 --head-dim 32 --causal --rope default --kv-format fp8_e4m3 "
      "--functional full --timing off --seed 7 --json -";
  Result g = run(common);
  ASSERT_EQ(g.code, 0) << g.err;
  Result f = run(common + " --q-file '" + q + "' --k-file '" + k + "' --v-file '" + v + "'");
  ASSERT_EQ(f.code, 0) << f.err;
  const boost::json::object gd = boost::json::parse(g.out).as_object();
  const boost::json::object fd = boost::json::parse(f.out).as_object();
  EXPECT_EQ(gd.at("functional"), fd.at("functional"));
  EXPECT_CONTAINS(std::string(fd.at("inputs").at("q").as_string()), "q.npy");
  EXPECT_EQ(gd.at("inputs").at("k").as_string(), "gen:outliers:seed=7");
  // A file of the wrong shape: exit 2, naming the flag, the file and the expected shape.
  Result bad = run(common + " --k-file '" + q + "' --kv-heads 1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_CONTAINS(bad.err, "--k-file");
  EXPECT_CONTAINS(bad.err, "q.npy");
  EXPECT_CONTAINS(bad.err, "expected [1, 64, 1, 32]");
  EXPECT_TRUE(bad.out.empty()) << bad.out;
}

TEST_F(Cli, AttentionWithDecoupledRopeDims) {
  // DeepSeek-V3's MLA before absorption: 128 + 64 QK dims, V of 128, YaRN with mscale_all_dim.
  Result r =
      run("attention --hw b200 --seq 1024 --heads 4 --head-dim 128 --rope-dim 64 --causal "
          "--rope yarn:factor=40,original=4096,mscale=1,mscale_all_dim=1,style=interleaved --kv-format nvfp4 "
          "--functional sample:8 --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out).as_object();
  const auto& p = doc.at("problem").as_object();
  EXPECT_EQ(p.at("rope_dim").as_int64(), 64);
  EXPECT_NEAR(boost::json::value_to<double>(p.at("softmax_scale")),
              1.0 / std::sqrt(192.0) * std::pow(0.1 * std::log(40.0) + 1, 2), 1e-12);
  // Per token: 4 heads x 256 + 64 shared elements at 4.5 bits.
  EXPECT_DOUBLE_EQ(boost::json::value_to<double>(doc.at("work").at("bytes").at("kv_cache")),
                   1024.0 * (4 * 256 + 64) * 4.5 / 8);
  EXPECT_EQ(doc.at("functional").at("outputs").as_int64(), 8 * 128);
  EXPECT_GT(boost::json::value_to<double>(doc.at("timing").at("time").at("us")), 0);
}

}  // namespace

TEST_F(Cli, GemmReportsTimingBytesAndErrorAsJson) {
  Result r = run("gemm --hw b200 --m 256 --n 256 --k 512 --format nvfp4 --functional full --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = boost::json::parse(r.out);
  const auto& res = doc.at("result");
  EXPECT_EQ(res.at("format").as_string(), "nvfp4");
  EXPECT_EQ(res.at("mma_kind").as_string(), "mxf4nvf4");
  EXPECT_GT(boost::json::value_to<double>(res.at("time").at("us")), 0.0);
  EXPECT_GT(boost::json::value_to<double>(res.at("bytes").at("hbm").at("read")), 0.0);
  EXPECT_EQ(res.at("functional").at("mode").as_string(), "full");
  EXPECT_EQ(boost::json::value_to<int64_t>(res.at("functional").at("outputs")), 256 * 256);
  EXPECT_FALSE(res.at("sampling").at("sampled").as_bool());  // one wave: simulated whole
  EXPECT_EQ(boost::json::value_to<int64_t>(res.at("sampling").at("waves_skipped")), 0);
  const double err = boost::json::value_to<double>(res.at("functional").at("error").at("rel_frobenius"));
  EXPECT_GT(err, 0.05);
  EXPECT_LT(err, 0.3);
  // The text report names the plan, the bound and the error table.
  Result t = run("gemm --hw b200 --m 256 --n 256 --k 512 --format nvfp4");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_CONTAINS(t.out, "bound");
  EXPECT_CONTAINS(t.out, "D (bf16)");
  // --d writes the whole product as .npy.
  const std::string d = (dir_ / "d.npy").string();
  ASSERT_EQ(run("gemm --hw b200 --m 64 --n 32 --k 128 --format mxfp8 --functional full --d '" + d + "'").code,
            0);
  EXPECT_EQ(fs::file_size(d), 128u + 64u * 32u * 4u);
}

TEST_F(Cli, CompareGemmPrintsOneRowPerFormat) {
  Result r = run("compare gemm --hw b200 --m 256 --n 256 --k 512");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"\nbf16 ", "\nfp8_e4m3 ", "\nmxfp8 ", "\nmxfp4 ", "\nnvfp4 "})
    EXPECT_CONTAINS(r.out, f);
  EXPECT_CONTAINS(r.out, "rel. error");
  Result h = run("compare gemm --hw h100 --m 256 --n 256 --k 512 --json -");
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_CONTAINS(h.out, "w4a16");
  EXPECT_CONTAINS(h.out, "fp8_block");
}

TEST_F(Cli, GemmBadInputExitsTwoAndWritesNothing) {
  const std::string json = (dir_ / "g.json").string();
  expect_rejected(
      "gemm",
      {
          {"--hw b200 --m 128 --n 128 --k 100 --format nvfp4",
           "K = 100 is not a multiple of nvfp4's scale block"},
          {"--hw b200 --m 0 --n 128 --k 128", "--m"},
          {"--hw b200 --m 128 --n 128 --k 128 --format nvfp5", "unknown GEMM format"},
          {"--hw h100 --m 128 --n 128 --k 128 --format nvfp4", "--format w4a16"},
          {"--hw b200 --m 128 --n 128 --k 128 --functional off --d x.npy",
           "--d writes the whole output: it needs --functional full"},
          {"--hw b200 --m 128 --n 128 --k 128 --tile 128x16:swop", "--tile 128x16:swop"},
          {"--hw b200 --m 128 --n 128 --k 128 --functional sample:x", "--functional"},
          // Was "internal error: tensor A is too large to track", exit 1.
          {"--hw b200 --m 10000000000 --n 256 --k 256 --functional off",
           "each dimension must be at most 16777216 (2^24)"},
          // Grew to 24 GB and was killed by the OS after 77 s (issue #21).
          {"--hw b200 --m 1048576 --n 1048576 --k 1048576 --functional off", "of simulator memory"},
          {"--hw b200 --m 4096 --n 4096 --k 4096 --functional off --max-memory \"64 MiB\"",
           "above the budget of 64 MiB (--max-memory)"},
          {"--hw b200 --m 256 --n 256 --k 256 --max-memory lots", "--max-memory lots"},
          {"--hw b200 --m 256 --n 256 --k 256 --l2-flush big", "--l2-flush big"},
          // Ran for hours with no estimate (2.8e14 multiply-adds).
          {"--hw b200 --m 65536 --n 65536 --k 65536 --functional full", "--functional sample:N"},
          {"--hw b200 --m 256 --n 256 --k 256 --functional full --max-time soon", "--max-time soon"},
          {"--hw b200 --m 256 --n 256 --k 256 --sampling sometimes",
           "--sampling sometimes: expected auto or off"},
          {"--hw b200 --m 256 --n 256 --k 256 --sampling auto --exact", "--exact and --sampling auto"},
      });
  Result f = run("compare gemm --hw b200 --m 128 --n 128 --k 128 --formats bf16,nope --json '" + json + "'");
  EXPECT_EQ(f.code, 2);
  EXPECT_CONTAINS(f.err, "--formats nope");
  EXPECT_FALSE(fs::exists(json));
}

// ---------------------------------------------------------------------------------------------
// Traces

namespace trace {

// A trace file's tracks: process names, "process/thread" names, counter names, and its spans.
struct Tracks {
  std::set<std::string> processes, threads, counters;
  std::vector<boost::json::object> spans;
  boost::json::object metadata;
  std::vector<std::string> on(const std::string& process_thread) const {
    std::vector<std::string> out;
    for (const auto& s : spans)
      if (s.at("track").as_string() == process_thread) out.emplace_back(s.at("name").as_string());
    return out;
  }
};

Tracks read(const fs::path& file) {
  std::ifstream in(file);
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  const boost::json::object root = boost::json::parse(text).as_object();
  Tracks t;
  t.metadata = root.at("metadata").as_object();
  std::map<int64_t, std::string> pname;
  std::map<std::pair<int64_t, int64_t>, std::string> tname;
  const auto& ev = root.at("traceEvents").as_array();
  for (const auto& v : ev) {
    const auto& e = v.as_object();
    if (e.at("ph") == "M" && e.at("name") == "process_name")
      pname[e.at("pid").as_int64()] = std::string(e.at("args").at("name").as_string());
  }
  for (const auto& v : ev) {
    const auto& e = v.as_object();
    const int64_t pid = e.at("pid").as_int64();
    if (e.at("ph") == "M" && e.at("name") == "thread_name") {
      tname[{pid, e.at("tid").as_int64()}] =
          pname.at(pid) + "/" + std::string(e.at("args").at("name").as_string());
      t.threads.insert(tname[{pid, e.at("tid").as_int64()}]);
    } else if (e.at("ph") == "C") {
      t.counters.insert(pname.at(pid) + "/" + std::string(e.at("name").as_string()));
    }
  }
  for (const auto& v : ev) {
    const auto& e = v.as_object();
    if (e.at("ph") != "X") continue;
    boost::json::object s = e;
    s["track"] = tname.at({e.at("pid").as_int64(), e.at("tid").as_int64()});
    t.spans.push_back(std::move(s));
  }
  for (const auto& [pid, name] : pname) t.processes.insert(name);
  return t;
}

// A viewer's thread track must hold disjoint spans: the first overlap found, or "".
std::string overlap(const Tracks& t) {
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> by_track;  // 0.1 ns units
  for (const auto& s : t.spans) {
    by_track[std::string(s.at("track").as_string())].emplace_back(
        std::llround(s.at("ts").to_number<double>() * 1e4),
        std::llround(s.at("dur").to_number<double>() * 1e4));
  }
  for (auto& [track, spans] : by_track) {
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].first < spans[i - 1].first + spans[i - 1].second)
        return fmt::format("{}: span at {} overlaps the one at {}", track, spans[i].first,
                           spans[i - 1].first);
    }
  }
  return "";
}

}  // namespace trace

TEST_F(Cli, TraceOfAGemmLoadsAsJsonWithTheExpectedTracks) {
  const fs::path file = dir_ / "gemm.trace.json";
  Result r =
      run("gemm --hw b200 --m 1024 --n 1024 --k 1024 --functional off --trace '" + file.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "wrote trace");
  const trace::Tracks t = trace::read(file);
  EXPECT_EQ(t.metadata.at("command"), "gemm");
  EXPECT_EQ(t.processes.size(), 1u + 128u);  // the GPU and the 128 SMs the 128 CTAs ran on
  for (const char* track : {"GPU/kernels", "SM 0/MMA (tensor pipe)", "SM 0/TMA 0", "SM 0/CTA slot 0",
                            "SM 0/CTA slot 0 epilogue", "SM 127/MMA (tensor pipe)"})
    EXPECT_TRUE(t.threads.count(track)) << track;
  for (const char* c : {"GPU/HBM read (GB/s)", "GPU/HBM write (GB/s)", "GPU/L2 (GB/s)", "GPU/Power (W)",
                        "GPU/SM clock (MHz)"})
    EXPECT_TRUE(t.counters.count(c)) << c;
  ASSERT_EQ(t.on("GPU/kernels").size(), 1u);
  EXPECT_CONTAINS(t.on("GPU/kernels")[0], "gemm 1024x1024x1024 nvfp4");
  EXPECT_EQ(t.on("SM 0/CTA slot 0").size(), 1u);  // one work item per CTA: one wave
  EXPECT_EQ(trace::overlap(t), "");
  const auto epi = t.on("SM 0/CTA slot 0 epilogue");
  EXPECT_NE(std::find(epi.begin(), epi.end(), "tcgen05.ld"), epi.end());
  // Per-SM detail for the SMs asked for only.
  Result few = run("gemm --hw b200 --m 1024 --n 1024 --k 1024 --functional off --trace-sms 0-1 --trace '" +
                   file.string() + "'");
  ASSERT_EQ(few.code, 0) << few.err;
  EXPECT_EQ(trace::read(file).processes, (std::set<std::string>{"GPU", "SM 0", "SM 1"}));
  // Bounds without a trace, SMs that do not exist, a directory that does not: exit 2, no files.
  const fs::path none = dir_ / "none.json";
  expect_rejected(
      "gemm", {
                  {"--m 128 --n 128 --k 128 --trace-sms 0-7", "--trace-sms bounds a trace: it needs --trace"},
                  {"--m 128 --n 128 --k 128 --trace '" + none.string() + "' --trace-sms 0-148",
                   "--trace-sms 0-148: SM 148 does not exist (this GPU has SMs 0-147)"},
                  {"--m 128 --n 128 --k 128 --trace '" + none.string() + "' --trace-max-events 0",
                   "--trace-max-events 0"},
                  {"--m 128 --n 128 --k 128 --trace '" + (dir_ / "no/such/dir/t.json").string() + "'",
                   "no such directory"},
                  {"--m 128 --n 128 --k 128 --trace '" + dir_.string() + "'", "is a directory"},
              });
  EXPECT_FALSE(fs::exists(none));
}

TEST_F(Cli, TraceOfAttentionAndOfAServingRun) {
  const fs::path file = dir_ / "t.json";
  Result a =
      run("attention --hw b200 --seq 4096 --q-len 1 --batch 4 --heads 32 --kv-heads 8 --head-dim 128 "
          "--causal --rope llama3:factor=8,original=8192 --functional off --trace-sms 0-3 --trace '" +
          file.string() + "'");
  ASSERT_EQ(a.code, 0) << a.err;
  trace::Tracks t = trace::read(file);
  EXPECT_EQ(t.on("GPU/kernels"),
            (std::vector<std::string>{"rope", "attention split-KV decode", "split-KV reduce x4"}));
  EXPECT_EQ(trace::overlap(t), "");
  EXPECT_TRUE(t.threads.count("SM 0/MMA (tensor pipe)"));
  EXPECT_TRUE(t.counters.count("GPU/Power (W)"));
  // A serving run: the prompt's prefill, then a decode step and an MTP pass, layer by layer.
  const std::string scenario =
      std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/scenarios/llama70b-nvfp4-b200.toml";
  Result r =
      run("run '" + scenario +
          "' --model llama-3.1-8b --set serving.output=16 --set serving.prompt=512 "
          "--set simulation.gemm_finalists=1 --set simulation.decode_samples=2 --trace-sms 0-7 --trace '" +
          file.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  t = trace::read(file);
  const auto steps = t.on("GPU/steps");
  ASSERT_GE(steps.size(), 3u);
  EXPECT_CONTAINS(steps[0], "prefill chunk 0 (tokens 0-511)");
  EXPECT_CONTAINS(steps[1], "decode step");
  EXPECT_CONTAINS(steps[2], "MTP verify");
  EXPECT_EQ(t.on("GPU/layers").size(), 32u * 3 + (steps.size() - 3));  // an MTP draft is one layer
  for (const char* track : {"GPU/kernels", "GPU/simulated kernels", "SM 7/MMA (tensor pipe)"})
    EXPECT_TRUE(t.threads.count(track)) << track;
  for (const char* c : {"GPU/Power (W)", "GPU/SM clock (MHz)"}) EXPECT_TRUE(t.counters.count(c)) << c;
  EXPECT_FALSE(t.threads.count("SM 8/MMA (tensor pipe)"));
  EXPECT_EQ(trace::overlap(t), "");
  EXPECT_EQ(t.metadata.at("dropped_detail_spans").as_int64(), 0);
}

// bwsim serve: the scenario's traffic, latency percentiles and throughput in the report and the
// JSON, request timelines in the trace; bad traffic exits 2 naming the file, key or line.
TEST_F(Cli, ServeReportsRequestLatenciesOrSaysWhatIsWrong) {
  const std::string scenario =
      std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/scenarios/llama70b-nvfp4-b200.toml";
  const std::string small =
      "'" + scenario +
      "' --model llama-3.1-8b --set serving.prompt=256 --set serving.output=16 --set mtp.drafts=0 "
      "--set simulation.gemm_finalists=1 --set traffic.users=4 --set traffic.requests=8 "
      "--set 'slo.ttft=\"1 s\"'";
  const fs::path trace_file = dir_ / "serve.json";
  Result r = run("serve " + small + " --json - --trace '" + trace_file.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object doc = boost::json::parse(r.out.substr(r.out.find('{'))).as_object();
  EXPECT_EQ(doc.at("command").as_string(), "serve");
  const boost::json::object& sv = doc.at("serve").as_object();
  EXPECT_EQ(sv.at("finished").as_int64(), 8);
  EXPECT_EQ(sv.at("decode_tokens").as_int64(), 8 * 15);
  EXPECT_EQ(boost::json::value_to<double>(sv.at("slo_attainment")), 1.0);
  for (const char* k : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_s"})
    for (const char* p : {"mean", "p50", "p90", "p99", "max"})
      EXPECT_GT(boost::json::value_to<double>(sv.at(k).at(p)), 0) << k << " " << p;
  EXPECT_GT(doc.at("memory").at("kv_blocks").as_int64(), 0);
  trace::Tracks t = trace::read(trace_file);
  EXPECT_EQ(trace::overlap(t), "");
  EXPECT_TRUE(t.counters.count("scheduler/KV blocks in use"));
  // The same seed gives the same report at any thread count (provenance aside: it names them).
  const auto without_provenance = [](const std::string& out) {
    boost::json::object o = boost::json::parse(out.substr(out.find('{'))).as_object();
    o.erase("provenance");
    return boost::json::serialize(o);
  };
  Result one = run("serve " + small + " --json -", "BWSIM_THREADS=1 ");
  Result two = run("serve " + small + " --json -", "BWSIM_THREADS=2 ");
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_EQ(without_provenance(one.out), without_provenance(two.out));
  EXPECT_EQ(without_provenance(one.out), without_provenance(r.out));
  // A bad trace (times going back), unknown keys, a search without an SLO: exit 2, nothing written.
  std::ofstream(dir_ / "bad.csv") << "arrival_s,prompt,output\n1.0,100,5\n0.5,100,5\n";
  expect_rejected("serve",
                  {
                      {"'" + scenario + "' --set 'traffic.arrivals=\"trace\"' --set 'traffic.trace=\"" +
                           (dir_ / "bad.csv").string() + "\"'",
                       "bad.csv:3"},
                      {"'" + scenario + "' --set traffic.rat=3", "traffic.rat"},
                      {"'" + scenario + "' --set 'traffic.prompt=\"zipf:1.1\"'", "traffic.prompt"},
                      {"'" + scenario + "' --find-max-rate", "--find-max-rate needs an SLO"},
                  });
}

// ---------------------------------------------------------------------------------------------
// Sweeps

namespace sweep {
// 200 small GEMMs: 5 M x 4 formats x 10 HBM bandwidths.
const char* const kSpec = R"(name = "small gemm grid"
kind = "gemm"
[gemm]
m = 128
n = 256
k = 512
hw = "b200"
[[axis]]
key = "gemm.m"
values = [128, 256, 512, 1024, 2048]
[[axis]]
key = "gemm.format"
values = ["nvfp4", "mxfp4", "mxfp8", "bf16"]
[[axis]]
key = "hw.hbm.bandwidth"
from = 4
to = 16
steps = 10
unit = "TB/s"
)";
}  // namespace sweep

TEST_F(Cli, SweepIsIdenticalAtAnyJobCountAndAfterAnInterruptedResume) {
  const fs::path spec = dir_ / "spec.toml";
  std::ofstream(spec) << sweep::kSpec;
  const std::string s = "'" + spec.string() + "'";
  const fs::path a = dir_ / "a.csv";
  Result r1 = run("sweep " + s + " -o '" + a.string() + "' -j 1");
  ASSERT_EQ(r1.code, 0) << r1.err;
  EXPECT_CONTAINS(r1.out, "200 of 200 points");
  EXPECT_CONTAINS(r1.err, "sweep: 100% 200/200 points");  // plain progress lines off a terminal
  const std::string full = slurp(a);
  EXPECT_EQ(std::count(full.begin(), full.end(), '\n'), 201);
  EXPECT_CONTAINS(full, "point,status,gemm.m,gemm.format,hw.hbm.bandwidth,plan.tile,");
  EXPECT_CONTAINS(full, ",error,anomaly\n");
  EXPECT_CONTAINS(full, "\n199,ok,2048,bf16,16 TB/s,");
  const fs::path b = dir_ / "b.csv";
  ASSERT_EQ(run("sweep " + s + " -o '" + b.string() + "' -j 2 --quiet").code, 0);
  EXPECT_EQ(slurp(b), full);
  // Interrupted: the rows that made it, in completion order, and half a line. --resume keeps them
  // and runs the rest; the result is the uninterrupted run's file, byte for byte.
  const fs::path c = dir_ / "c.csv";
  {
    std::vector<std::string> lines;
    std::istringstream in(full);
    for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
    std::ofstream o(c, std::ios::binary);
    o << lines[0];
    for (size_t i = 1; i < 90; i += 2) o << lines[i + 1] << lines[i];  // out of order
    o << lines[150].substr(0, 20);                                     // torn
  }
  Result res = run("sweep " + s + " -o '" + c.string() + "' -j 2 --resume --quiet");
  ASSERT_EQ(res.code, 0) << res.err;
  EXPECT_EQ(slurp(c), full);
  // A real kill mid-run, then --resume.
  const fs::path d = dir_ / "d.csv";
  const std::string kill = "cd '" + dir_.string() + "' && ( exec '" + BWSIM_BINARY + "' sweep " + s +
                           " -o '" + d.string() +
                           "' -j 2 --quiet ) & sleep 0.3; kill -9 $! 2> /dev/null; wait";
  (void)std::system(kill.c_str());
  ASSERT_EQ(run("sweep " + s + " -o '" + d.string() + "' -j 2 --resume --quiet").code, 0);
  EXPECT_EQ(slurp(d), full);
  // A resume against a changed spec is refused and leaves the file alone.
  std::string changed = sweep::kSpec;
  changed.replace(changed.find("2048]"), 4, "4096");
  std::ofstream(spec) << changed;
  Result refused = run("sweep " + s + " -o '" + c.string() + "' --resume");
  EXPECT_EQ(refused.code, 2);
  EXPECT_CONTAINS(refused.err, "the spec changed");
  EXPECT_EQ(slurp(c), full);
}

// Every output is written to a temporary name and renamed: a run killed (SIGKILL) at any point
// leaves the file as it was or the whole new one, byte for byte what an uninterrupted run
// writes, for each kind of output.
TEST_F(Cli, AKilledRunLeavesTheOldOutputOrTheWholeNewOne) {
  struct Output {
    std::string args;  // with FILE where the output goes
    std::vector<double> kill_after;
  };
  const std::vector<Output> outputs{
      {"gemm --m 4096 --n 4096 --k 4096 --functional off --quiet --json FILE", {0.05, 0.2, 0.35, 0.5}},
      {"gemm --m 2048 --n 2048 --k 2048 --functional off --quiet --trace FILE", {0.05, 0.3, 0.6}},
      {"gemm --m 1024 --n 1024 --k 2048 --functional full --quiet --d FILE", {0.1, 1.0, 1.9}},
      {"attention --seq 8192 --heads 32 --kv-heads 8 --head-dim 128 --causal --functional off --quiet "
       "--json FILE",
       {0.02, 0.1, 0.2}},
  };
  const auto with_file = [](std::string args, const fs::path& file) {
    args.replace(args.find("FILE"), 4, "'" + file.string() + "'");
    return args;
  };
  int old_kept = 0;
  int new_whole = 0;
  for (const Output& o : outputs) {
    // The reference run writes the same path (the provenance in the file names it).
    const fs::path f = dir_ / "killed.out";
    ASSERT_EQ(run(with_file(o.args, f)).code, 0) << o.args;
    const std::string whole = slurp(f);
    ASSERT_FALSE(whole.empty());
    for (const double after : o.kill_after) {
      std::ofstream(f, std::ios::binary) << "OLD";
      const std::string cmd = "cd '" + std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/..' && ( exec '" +
                              BWSIM_BINARY + "' " + with_file(o.args, f) + " > /dev/null 2>&1 ) & sleep " +
                              fmt::format("{}", after) + "; kill -9 $! 2> /dev/null; wait";
      (void)std::system(cmd.c_str());
      const std::string got = slurp(f);
      EXPECT_TRUE(got == "OLD" || got == whole)
          << o.args << " killed after " << after << " s: " << got.size() << " bytes, neither the old file ("
          << 3 << ") nor the whole new one (" << whole.size() << ")";
      old_kept += got == "OLD";
      new_whole += got == whole;
    }
  }
  // The early kills land before the rename (which ones land after depends on the machine's
  // load, so that outcome is counted, not required).
  EXPECT_GT(old_kept, 0);
  std::cout << fmt::format("{} kills left the old file, {} the whole new one\n", old_kept, new_whole);
}

TEST_F(Cli, SweepShardsMergeIntoTheWholeSweep) {
  const fs::path spec = dir_ / "spec.toml";
  std::string text = sweep::kSpec;
  text.replace(text.find("steps = 10"), 10, "steps = 2");  // 40 points
  std::ofstream(spec) << text;
  const std::string s = "'" + spec.string() + "'";
  ASSERT_EQ(run("sweep " + s + " -o '" + (dir_ / "all.csv").string() + "' --quiet").code, 0);
  for (int i = 0; i < 3; ++i) {
    Result r = run(fmt::format("sweep {} -o '{}' --shard {}/3 --quiet", s,
                               (dir_ / fmt::format("s{}.csv", i)).string(), i));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const std::string shards = fmt::format("'{}' '{}' '{}'", (dir_ / "s0.csv").string(),
                                         (dir_ / "s1.csv").string(), (dir_ / "s2.csv").string());
  Result m = run("sweep-merge -o '" + (dir_ / "merged.csv").string() + "' --spec " + s + " " + shards);
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(slurp(dir_ / "merged.csv"), slurp(dir_ / "all.csv"));
  // A missing shard is named, not merged silently.
  Result missing = run("sweep-merge -o '" + (dir_ / "partial.csv").string() + "' --spec " + s + " '" +
                       (dir_ / "s0.csv").string() + "'");
  EXPECT_EQ(missing.code, 2);
  EXPECT_CONTAINS(missing.err, "26 of 40 points are in no shard (points 1, 2, 4,");
  EXPECT_FALSE(fs::exists(dir_ / "partial.csv"));
  expect_rejected("sweep", {{s + " -o x.csv --shard 3/3", "--shard 3/3: expected I/N with 0 <= I < N"},
                            {s, "-o / --output is required"}});
}

TEST_F(Cli, SweepUnderMpirunGivesTheLocalRunsRows) {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun on this machine";
  const fs::path spec = dir_ / "spec.toml";
  std::string text = sweep::kSpec;
  text.replace(text.find("steps = 10"), 10, "steps = 2");  // 40 points
  std::ofstream(spec) << text;
  const std::string s = "'" + spec.string() + "'";
  ASSERT_EQ(run("sweep " + s + " -o '" + (dir_ / "local.csv").string() + "' --quiet").code, 0);
  // Open MPI refuses root unless told; CI containers often run as root.
  Result r = run(
      "--version > /dev/null && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "OMPI_MCA_rmaps_base_oversubscribe=1 mpirun -np 2 --oversubscribe '" +
      std::string(BWSIM_BINARY) + "' sweep " + s + " -o '" + (dir_ / "mpi.csv").string() + "' -j 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_CONTAINS(r.out, "40 of 40 points");
  EXPECT_CONTAINS(r.out, "(2 MPI ranks)");
  EXPECT_EQ(slurp(dir_ / "mpi.csv"), slurp(dir_ / "local.csv"));
}

TEST_F(Cli, SweepRejectsABadSpecBeforeRunningAnything) {
  const fs::path spec = dir_ / "bad.toml";
  const std::string out = (dir_ / "never.csv").string();
  const auto rejected = [&](const std::string& axis, const std::string& message) {
    std::ofstream(spec) << "name = \"bad\"\nkind = \"gemm\"\n[gemm]\nm = 128\nn = 256\nk = 256\n[[axis]]\n"
                        << axis;
    Result r = run("sweep '" + spec.string() + "' -o '" + out + "'");
    EXPECT_EQ(r.code, 2) << axis;
    EXPECT_CONTAINS(r.err, message);
    EXPECT_FALSE(fs::exists(out)) << axis;
  };
  rejected("key = \"hw.hbm.bandwith\"\nvalues = [\"8 TB/s\"]",
           "bad.toml:8: axis 'hw.hbm.bandwith' value \"8 TB/s\": --set hbm.bandwith=\"8 TB/s\": unknown key");
  rejected("key = \"gemm.m\"\nvalues = []", "bad.toml:8: axis 'gemm.m': 'values' is empty");
  rejected("key = \"gemm.m\"\nvalues = [64, \"lots\"]", "axis 'gemm.m' value \"lots\"");
  rejected("key = \"hw.sm.count\"\nvalues = [\"many\"]", "axis 'hw.sm.count' value \"many\"");
}

TEST_F(Cli, PlotDrawsSweepChartsAndRooflines) {
  if (std::system("/usr/bin/python3 -c 'import matplotlib' > /dev/null 2>&1") != 0 &&
      std::system("python3 -c 'import matplotlib' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no python3-matplotlib on this machine";
  }
  const fs::path spec = dir_ / "spec.toml";
  std::string text = sweep::kSpec;
  text.replace(text.find("steps = 10"), 10, "steps = 2");
  std::ofstream(spec) << text;
  const std::string csv = (dir_ / "r.csv").string();
  ASSERT_EQ(run("sweep '" + spec.string() + "' -o '" + csv + "' --quiet").code, 0);
  const fs::path svg = dir_ / "line.svg";
  Result line =
      run("plot '" + csv + "' --x gemm.m --y time.us --series gemm.format --logx -o '" + svg.string() + "'");
  ASSERT_EQ(line.code, 0) << line.err;
  const std::string drawn = slurp(svg);
  EXPECT_CONTAINS(drawn, "<svg");
  EXPECT_CONTAINS(drawn, "gemm.format = mxfp8");  // the legend
  // Same input, same bytes (no dates, fixed ids).
  ASSERT_EQ(run("plot '" + csv + "' --x gemm.m --y time.us --series gemm.format --logx -o '" +
                (dir_ / "again.svg").string() + "'")
                .code,
            0);
  EXPECT_EQ(slurp(dir_ / "again.svg"), drawn);
  const fs::path bars = dir_ / "bars.png";
  ASSERT_EQ(run("plot '" + csv + "' --kind bar --x gemm.format --y throughput.tflops --series gemm.m -o '" +
                bars.string() + "'")
                .code,
            0);
  EXPECT_EQ(slurp(bars).substr(1, 3), "PNG");
  Result roof = run("plot '" + csv + "' --kind roofline --series gemm.format -o '" +
                    (dir_ / "roof.svg").string() + "'");
  ASSERT_EQ(roof.code, 0) << roof.err;
  EXPECT_CONTAINS(slurp(dir_ / "roof.svg"), "NVFP4 9000 TFLOP/s");
  // A run report's step kernels on the roofline.
  const std::string scenario =
      std::string(BWSIM_CONFIG_DIR_FOR_TESTS) + "/scenarios/llama70b-nvfp4-b200.toml";
  const std::string report = (dir_ / "run.json").string();
  ASSERT_EQ(run("run '" + scenario +
                "' --model llama-3.1-8b --set serving.output=8 --set simulation.gemm_finalists=1 " +
                "--set simulation.decode_samples=2 --set mtp.drafts=0 --json '" + report + "'")
                .code,
            0);
  Result rr = run("plot '" + report + "' --kind roofline -o '" + (dir_ / "run.svg").string() + "'");
  ASSERT_EQ(rr.code, 0) << rr.err;
  EXPECT_CONTAINS(slurp(dir_ / "run.svg"), "decode step kernels");
  // A format comparison's table as bars (x: the formats) and on the roofline.
  const std::string cmp = (dir_ / "cmp.json").string();
  ASSERT_EQ(run("compare gemm --m 512 --n 512 --k 1024 --formats bf16,nvfp4 --functional sample:4 --json '" +
                cmp + "'")
                .code,
            0);
  Result cb = run("plot '" + cmp + "' --kind bar --y error.sqnr_db -o '" + (dir_ / "cmp.svg").string() + "'");
  ASSERT_EQ(cb.code, 0) << cb.err;
  EXPECT_CONTAINS(slurp(dir_ / "cmp.svg"), "nvfp4");
  Result cr = run("plot '" + cmp + "' --kind roofline -o '" + (dir_ / "cmpr.svg").string() + "'");
  ASSERT_EQ(cr.code, 0) << cr.err;
  EXPECT_CONTAINS(slurp(dir_ / "cmpr.svg"), "format = bf16");
  expect_rejected("plot", {{"'" + report + "' --y time.us -o '" + (dir_ / "x.svg").string() + "'",
                            "a run report plots with --kind roofline"}});
  expect_rejected("plot", {{"'" + csv + "' --x gemm.m --y nope -o '" + (dir_ / "x.svg").string() + "'",
                            "--y nope: no such column"},
                           {"'" + csv + "' --x gemm.m --y time.us -o '" + (dir_ / "x.txt").string() + "'",
                            "expected a .svg, .png or .pdf file"},
                           {"'" + csv + "' --x gemm.m --y time.us --kind pie -o x.svg", "--kind pie"}});
  EXPECT_FALSE(fs::exists(dir_ / "x.svg"));
  // A drawing that fails half-way (the script writes part of its output and exits 1) leaves
  // the old file as it was and no temporary beside it.
  const fs::path broken = dir_ / "broken.py";
  std::ofstream(broken)
      << "import json, sys\nopen(json.load(open(sys.argv[1]))['output'], 'w').write('<svg')\n"
         "sys.exit(1)\n";
  Result half = run("plot '" + csv + "' --x gemm.m --y time.us -o '" + svg.string() + "'",
                    "BWSIM_PLOT_SCRIPT='" + broken.string() + "' ");
  EXPECT_EQ(half.code, 1);
  EXPECT_EQ(slurp(svg), drawn);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(Cli, ValidateReportsEachPointAndItsErrorAndRejectsBadSets) {
  const fs::path set = dir_ / "set.toml";
  std::ofstream(set)
      << "[source]\ntitle = \"t\"\nurl = \"u\"\n\n[[point]]\nid = \"copy\"\nkind = \"memory\"\n"
         "hw = \"h100\"\npattern = \"copy\"\nbytes = \"256 MiB\"\nmeasured = \"2.90 TB/s\"\n"
         "locator = \"l\"\nquote = \"q\"\n";
  const std::string json = (dir_ / "v.json").string();
  Result r = run("validate --quiet -j 1 --dir '" + set.string() + "' --json '" + json + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "copy 256 MiB");
  EXPECT_CONTAINS(r.out, "kernel-level");
  const boost::json::value doc = boost::json::parse(slurp(json));
  const auto& p = doc.at("points").as_array().at(0).as_object();
  EXPECT_NEAR(p.at("measured").to_number<double>(), 2900, 1e-9);
  EXPECT_NEAR(p.at("error").to_number<double>(), p.at("predicted").to_number<double>() / 2900 - 1, 1e-9);
  EXPECT_EQ(doc.at("kernel_level").at("points").as_int64(), 1);
  // The report plots as predicted against measured.
  const fs::path svg = dir_ / "v.svg";
  Result plot = run("plot '" + json + "' -o '" + svg.string() + "'");
  ASSERT_EQ(plot.code, 0) << plot.err;
  EXPECT_CONTAINS(slurp(svg), "predicted (GB/s)");

  const fs::path bad = dir_ / "bad.toml";
  std::ofstream(bad) << "[source]\ntitle = \"t\"\nurl = \"u\"\n\n[[point]]\nid = \"x\"\nkind = \"memory\"\n"
                        "hw = \"h100\"\npattern = \"copy\"\nbytes = \"256 MiB\"\nmeasured = \"2.90 TB/s\"\n"
                        "locator = \"l\"\nquote = \"q\"\nspeed = 3\n";
  expect_rejected("validate",
                  {{"--dir '" + bad.string() + "'", "bad.toml:14: unknown key 'point[0].speed'"},
                   {"--dir '" + set.string() + "' --only bogus", "--only bogus"},
                   {"--dir '" + set.string() + "' --skip memory", "no validation point matches"},
                   {"--dir '" + set.string() + "' --skip bogus", "--skip bogus"},
                   {"--dir '" + set.string() + "' --source nope", "--source nope: no such source"},
                   {"--dir '" + set.string() + "' --hw b200", "--hw b200: no point"},
                   {"--dir '" + (dir_ / "none").string() + "'", "no such validation file"}});
}

// ---------------------------------------------------------------------------------------------
// An installed, self-describing tool (#27): CLI conventions, provenance, outputs, strict exits.

namespace {
boost::json::object json_of(const std::string& text) { return boost::json::parse(text).as_object(); }
}  // namespace

TEST_F(Cli, OptionsAreNeverGuessedAndTyposGetASuggestion) {
  // Boost's prefix matching used to run this as --format bf16 --functional off.
  Result r = run("gemm --form bf16 --func off --m 64 --n 64 --k 64");
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "unrecognised option '--form' (did you mean '--format'?)");
  Result typo = run("gemm --fromat bf16 --m 64 --n 64 --k 64");
  EXPECT_EQ(typo.code, 2);
  EXPECT_CONTAINS(typo.err, "did you mean '--format'?");
  Result cmd = run("gem --m 64");
  EXPECT_EQ(cmd.code, 2);
  EXPECT_CONTAINS(cmd.err, "unknown command 'gem' (did you mean 'gemm'?)");
}

TEST_F(Cli, HelpOfEachCommandNamesItsValuesAndPrintsPlainDefaults) {
  Result g = run("help gemm");
  EXPECT_EQ(g.code, 0);
  EXPECT_CONTAINS(g.out, "usage: bwsim gemm");
  EXPECT_CONTAINS(g.out, "--m INT");
  EXPECT_CONTAINS(g.out, "--tile TILE");
  EXPECT_CONTAINS(g.out, "--hw NAME|FILE (=b200)");
  EXPECT_CONTAINS(g.out, "-q [ --quiet ]");
  EXPECT_CONTAINS(g.out, "-v [ --verbose ]");
  EXPECT_EQ(run("gemm --help").out, g.out);
  for (const char* c :
       {"info", "formats", "quantize", "micro", "gemm", "compare", "rope", "attention", "model", "numerics",
        "run", "sweep", "sweep-merge", "plot", "validate", "list", "version"}) {
    Result h = run(std::string("help ") + c);
    EXPECT_EQ(h.code, 0) << c;
    EXPECT_EQ(h.out.find(" arg "), std::string::npos) << c << ": an unnamed value\n" << h.out;
    EXPECT_EQ(h.out.find("0000000"), std::string::npos) << c << ": a default printed with 17 digits\n"
                                                        << h.out;
    EXPECT_CONTAINS(h.out, "--json");  // every command writes JSON (formats: its list)
  }
  EXPECT_CONTAINS(run("help run").out, "(--scenario may also be given without its name");
  Result unknown = run("help gemmm");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_CONTAINS(unknown.err, "did you mean 'gemm'?");
}

TEST_F(Cli, ListNamesWhatEachFlagAccepts) {
  EXPECT_CONTAINS(run("list hw").out, "b200          NVIDIA B200 (HGX)");
  EXPECT_CONTAINS(run("list models").out, "llama-3.1-70b");
  EXPECT_CONTAINS(run("list scenarios").out, "llama70b-nvfp4-b200");
  EXPECT_CONTAINS(run("list sweeps").out, "hbm-x-format-70b-decode");
  EXPECT_CONTAINS(run("list formats").out, "nvfp4");
  const boost::json::object j = json_of(run("list hw --json -").out);
  EXPECT_EQ(j.at("kind").as_string(), "hw");
  EXPECT_GE(j.at("items").as_array().size(), 8u);
  Result bad = run("list gpus");
  EXPECT_EQ(bad.code, 2);
  EXPECT_CONTAINS(bad.err, "one of hw, models, scenarios, sweeps, formats");
  // The commands that used to refuse --json or ignore it.
  EXPECT_EQ(json_of(run("version --json -").out).at("schema_version").as_int64(), 1);
  EXPECT_GT(json_of(run("formats list --json -").out).at("formats").as_array().size(), 5u);
  EXPECT_GT(json_of(run("micro list --json -").out).at("microbenchmarks").as_array().size(), 3u);
  EXPECT_EQ(run("formats convert --to e2m1 --json x.json").code, 2);
}

TEST_F(Cli, EveryOutputSaysWhereItCameFrom) {
  // JSON: build, command line, the overrides, the resolved config's hash, seed, schema.
  const std::string base = "gemm --m 128 --n 256 --k 512 --functional off --quiet";
  Result r = run(base + " --set hbm.bandwidth='\"12 TB/s\"' --json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const boost::json::object p = json_of(r.out).at("provenance").as_object();
  EXPECT_EQ(p.at("schema_version").as_int64(), 1);
  EXPECT_EQ(p.at("bwsim").at("version").as_string().size() > 0, true);
  EXPECT_EQ(p.at("bwsim").at("commit").as_string().size(), 40u);  // built from a git checkout
  EXPECT_CONTAINS(std::string(p.at("command_line").as_string()), "gemm --m 128");
  EXPECT_EQ(p.at("overrides").as_array().at(0).as_string(), "hbm.bandwidth=\"12 TB/s\"");
  const auto& hw = p.at("configs").as_array().at(0).as_object();
  EXPECT_EQ(hw.at("kind").as_string(), "hw");
  EXPECT_CONTAINS(std::string(hw.at("file").as_string()), "b200.toml");
  EXPECT_EQ(hw.at("hash").as_string().size(), 16u);
  EXPECT_EQ(p.at("seeds").at("--seed").as_int64(), 1);
  // The hash is of the resolved values: the same GPU written in other units hashes the same, a
  // different one does not.
  const auto hash_with = [&](const std::string& set) {
    return json_of(run(base + " --set " + set + " --json -").out)
        .at("provenance")
        .at("configs")
        .as_array()
        .at(0)
        .at("hash")
        .as_string();
  };
  EXPECT_EQ(hash_with("hbm.bandwidth='\"12000 GB/s\"'"), hw.at("hash").as_string());
  EXPECT_NE(hash_with("hbm.bandwidth='\"11 TB/s\"'"), hw.at("hash").as_string());
  // Trace: in its metadata.
  const fs::path trace = dir_ / "t.json";
  ASSERT_EQ(run(base + " --trace '" + trace.string() + "'").code, 0);
  const boost::json::object t = json_of(slurp(trace));
  EXPECT_CONTAINS(std::string(t.at("metadata").at("provenance").at("command_line").as_string()), "--trace");
  // Sweep CSV: in a sidecar beside it.
  const fs::path spec = dir_ / "spec.toml";
  std::ofstream(spec)
      << "name = \"two\"\nkind = \"gemm\"\n[gemm]\nm = 128\nn = 256\nk = 512\n[[axis]]\nkey = "
         "\"gemm.m\"\nvalues = [128, 256]\n";
  const fs::path csv = dir_ / "s.csv";
  ASSERT_EQ(run("sweep '" + spec.string() + "' -o '" + csv.string() + "' --quiet").code, 0);
  const boost::json::object side = json_of(slurp(dir_ / "s.csv.provenance.json"));
  EXPECT_EQ(side.at("describes").as_string(), "s.csv");
  EXPECT_CONTAINS(std::string(side.at("command_line").as_string()), "sweep");
}

TEST_F(Cli, AGzTraceIsGzipAndHoldsTheSameTrace) {
  const std::string base = "gemm --m 256 --n 256 --k 512 --functional off --quiet --trace ";
  const fs::path plain = dir_ / "t.json";
  const fs::path gz = dir_ / "t.json.gz";
  ASSERT_EQ(run(base + "'" + plain.string() + "'").code, 0);
  ASSERT_EQ(run(base + "'" + gz.string() + "'").code, 0);
  const std::string bytes = slurp(gz);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
  EXPECT_LT(bytes.size() * 3, slurp(plain).size());
  ASSERT_EQ(std::system(("gzip -dc '" + gz.string() + "' > '" + (dir_ / "back.json").string() + "'").c_str()),
            0);
  const boost::json::object back = json_of(slurp(dir_ / "back.json"));
  EXPECT_EQ(back.at("traceEvents").as_array().size(),
            json_of(slurp(plain)).at("traceEvents").as_array().size());
}

TEST_F(Cli, OutputsThatCannotBeWrittenFailBeforeAnythingRuns) {
  // A GEMM that takes seconds to simulate is refused at once.
  const std::string slow = "gemm --m 8192 --n 8192 --k 8192 --functional off --quiet";
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {slow + " --json '" + (dir_ / "no/dir/x.json").string() + "'", "--json"},
           {slow + " --trace '" + (dir_ / "no/dir/t.json").string() + "'", "--trace"},
           {slow + " --json '" + dir_.string() + "'", "is a directory"},
           {"run llama70b-nvfp4-b200 --quiet --json '" + (dir_ / "nodir/x.json").string() + "'",
            "no such directory"},
       }) {
    const auto start = std::chrono::steady_clock::now();
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_CONTAINS(r.err, message);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0) << args;
  }
  // A sweep does not overwrite its results without --resume or --force.
  const fs::path spec = dir_ / "spec.toml";
  std::ofstream(spec)
      << "name = \"one\"\nkind = \"gemm\"\n[gemm]\nm = 128\nn = 256\nk = 512\n[[axis]]\nkey = "
         "\"gemm.m\"\nvalues = [128]\n";
  const fs::path csv = dir_ / "r.csv";
  std::ofstream(csv) << "precious";
  Result refused = run("sweep '" + spec.string() + "' -o '" + csv.string() + "' --quiet");
  EXPECT_EQ(refused.code, 2);
  EXPECT_CONTAINS(refused.err, "exists; --resume goes on with its finished rows, --force replaces it");
  EXPECT_EQ(slurp(csv), "precious");
  EXPECT_EQ(run("sweep '" + spec.string() + "' -o '" + csv.string() + "' --quiet --force").code, 0);
  EXPECT_CONTAINS(slurp(csv), "0,ok,128");
}

TEST_F(Cli, StrictExitsOneWhenAClaimOrAPointFails) {
  // run: a claim outside its range (memory only: no timing needed to judge weights).
  const std::string run_args =
      "run llama70b-nvfp4-b200 --quiet --set simulation.timing=false --set 'claims.weights_gb={ claimed = "
      "\"x\", "
      "low = LOW, high = 100 }'";
  const auto with_low = [&](const char* low) {
    std::string a = run_args;
    a.replace(a.find("LOW"), 3, low);
    return a;
  };
  EXPECT_EQ(run(with_low("50")).code, 0);  // 42.7 GB: does not hold, but only --strict fails
  Result strict = run(with_low("50") + " --strict");
  EXPECT_EQ(strict.code, 1);
  EXPECT_CONTAINS(strict.err, "--strict: 1 of 1 claims do not hold");
  EXPECT_EQ(run(with_low("40") + " --strict").code, 0);  // holds
  // sweep: a point whose combination is invalid (this tile's stages do not fit BF16's SMEM).
  const fs::path spec = dir_ / "spec.toml";
  std::ofstream(spec)
      << "name = \"fails\"\nkind = \"gemm\"\n[gemm]\nm = 256\nn = 256\nk = 1024\ntile = "
         "\"256x256x256:stages=5\"\n[[axis]]\nkey = \"gemm.format\"\nvalues = [\"nvfp4\", \"bf16\"]\n";
  const std::string sweep =
      "sweep '" + spec.string() + "' -o '" + (dir_ / "f.csv").string() + "' --quiet --force";
  Result lenient = run(sweep);
  ASSERT_EQ(lenient.code, 0) << lenient.err;
  EXPECT_CONTAINS(lenient.out, "1 ok, 1 failed");
  Result s = run(sweep + " --strict");
  EXPECT_EQ(s.code, 1);
  EXPECT_CONTAINS(s.err, "--strict: 1 of 2 points failed");
}

TEST_F(Cli, WithoutConfigsTheErrorSaysWhereItLooked) {
  Result r = run("info --hw b200", "BWSIM_CONFIG_DIR=/nonexistent ");
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "no bwsim configs found");
  EXPECT_CONTAINS(r.err, "/nonexistent ($BWSIM_CONFIG_DIR)");
}
