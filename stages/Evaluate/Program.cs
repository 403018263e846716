// Evaluate stage: its commands are in Commands/ (EvaluateCommand: the workspace, --data, --ood; PredictCommand:
// predict), the stage itself beside this file (EvaluateStage). This file only wires the options they share.
using System.CommandLine;
using BottleneckPipeline.Evaluate.Commands;
using BottleneckPipeline.Hosting;

var configOption = StageHost.ConfigOption();
var modelOption = new Option<string?>("--model") { Description = "A model.onnx that Evaluate exported; no config, index or workspace is read." };
var topKOption = new Option<int?>("--top-k") { Description = "Labels per image (default evaluate.top_k, or 3 with --model)." };
var root = EvaluateCommand.Create(configOption, modelOption, topKOption);
root.Subcommands.Add(PredictCommand.Create(configOption, modelOption, topKOption));
return root.Parse(args).Invoke();
