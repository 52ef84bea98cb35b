// A model step's kernels as a text table and as JSON, shared by bwsim model and bwsim run.
#pragma once

#include <boost/json.hpp>

#include <ostream>

#include "workloads/transformer/step.hpp"

namespace bwsim::app {

void print_step(std::ostream& out, const StepTiming& t);
boost::json::object step_json(const StepTiming& t);

}  // namespace bwsim::app
