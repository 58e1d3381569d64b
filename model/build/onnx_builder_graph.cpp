// graph_writer and external_data_file: thin helpers over the onnx protobuf types.
#include "model/build/onnx_builder_graph.hpp"

#include <cstring>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

void set_attr(onnx::AttributeProto& a, const onnx_attr& attr) {
  a.set_name(attr.name);
  if (auto* i = std::get_if<int64_t>(&attr.value)) {
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(*i);
  } else if (auto* f = std::get_if<float>(&attr.value)) {
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(*f);
  } else if (auto* v = std::get_if<std::vector<int64_t>>(&attr.value)) {
    a.set_type(onnx::AttributeProto::INTS);
    for (int64_t x : *v) a.add_ints(x);
  } else {
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(std::get<std::string>(attr.value));
  }
}

void set_value_info(onnx::ValueInfoProto& vi, const std::string& name, int elem_type,
                    const std::vector<onnx_dim>& dims) {
  vi.set_name(name);
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (auto* v = std::get_if<int64_t>(&d))
      dim->set_dim_value(*v);
    else
      dim->set_dim_param(std::get<std::string>(d));
  }
}

}  // namespace

external_data_file::external_data_file(const std::string& path, std::string location)
    : path_(path), location_(std::move(location)), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) throw model_error("cannot create external data file " + path);
}

void external_data_file::append(onnx::TensorProto& t, const void* bytes, uint64_t size) {
  static const char zeros[64] = {};
  if (uint64_t pad = (64 - offset_ % 64) % 64) {
    out_.write(zeros, std::streamsize(pad));
    offset_ += pad;
  }
  out_.write(static_cast<const char*>(bytes), std::streamsize(size));
  if (!out_) throw model_error("write failed on " + path_ + " (disk full?)");
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  t.clear_external_data();
  auto add = [&](const char* k, const std::string& v) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location_);
  add("offset", std::to_string(offset_));
  add("length", std::to_string(size));
  offset_ += size;
}

void external_data_file::close() {
  out_.flush();
  if (!out_) throw model_error("write failed on " + path_ + " (disk full?)");
  out_.close();
}

std::vector<std::string> graph_writer::node(const std::string& op, const std::string& name,
                                            const std::vector<std::string>& inputs,
                                            const std::vector<onnx_attr>& attrs, int num_outputs) {
  auto* n = graph_.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  std::vector<std::string> outs;
  for (int i = 0; i < num_outputs; ++i) {
    outs.push_back(name + "/output_" + std::to_string(i));
    n->add_output(outs.back());
  }
  for (const auto& a : attrs) set_attr(*n->add_attribute(), a);
  return outs;
}

std::string graph_writer::op_to(const std::string& output, const std::string& op, const std::string& name,
                                const std::vector<std::string>& inputs, const std::vector<onnx_attr>& attrs) {
  auto* n = graph_.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  for (const auto& a : attrs) set_attr(*n->add_attribute(), a);
  return output;
}

onnx::TensorProto* graph_writer::constant_tensor(const std::string& name, int elem_type,
                                                 const std::vector<int64_t>& dims, std::string& output) {
  auto* n = graph_.add_node();
  n->set_op_type("Constant");
  n->set_name(name);
  output = name + "/output_0";
  n->add_output(output);
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(elem_type);
  for (int64_t d : dims) t->add_dims(d);
  return t;
}

std::string graph_writer::const_i64(const std::string& name, const std::vector<int64_t>& values,
                                    std::vector<int64_t> dims) {
  std::string out;
  auto* t = constant_tensor(name, onnx::TensorProto::INT64, dims, out);
  for (int64_t v : values) t->add_int64_data(v);
  return out;
}

std::string graph_writer::const_f32(const std::string& name, const std::vector<float>& values,
                                    std::vector<int64_t> dims) {
  std::string out;
  auto* t = constant_tensor(name, onnx::TensorProto::FLOAT, dims, out);
  for (float v : values) t->add_float_data(v);
  return out;
}

void graph_writer::input(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims) {
  set_value_info(*graph_.add_input(), name, elem_type, dims);
}

void graph_writer::output(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims) {
  set_value_info(*graph_.add_output(), name, elem_type, dims);
}

void graph_writer::value_info(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims) {
  set_value_info(*graph_.add_value_info(), name, elem_type, dims);
}

void graph_writer::initializer(external_data_file& data, const std::string& name, int elem_type,
                               const std::vector<int64_t>& dims, const void* bytes, uint64_t size) {
  auto* t = graph_.add_initializer();
  t->set_name(name);
  t->set_data_type(elem_type);
  for (int64_t d : dims) t->add_dims(d);
  data.append(*t, bytes, size);
}


}  // namespace tessera::model
