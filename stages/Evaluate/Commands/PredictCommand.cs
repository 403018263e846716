using System.CommandLine;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate.Commands;

/// <summary>`predict`: classify images with an exported model.onnx (--model, or the workspace's), a row for every file.</summary>
internal static class PredictCommand
{
    public static Command Create(Option<string> configOption, Option<string?> modelOption, Option<int?> topKOption)
    {
        var inputs = new Argument<string[]>("paths") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var outOption = new Option<string>("--out") { Description = "File to write, or - for standard output.", DefaultValueFactory = _ => "predictions.csv" };
        var formatOption = new Option<PredictionFormat?>("--format") { Description = "csv or json (default: json for a .json file, else csv)." };
        var predict = new Command("predict", "Classify images with a model.onnx that Evaluate exported (--model, or the workspace's): every file gets "
                                             + "a row with its top-k labels and probabilities, or why it was skipped.")
        { configOption, modelOption, inputs, outOption, formatOption, topKOption };
        predict.SetAction(parse => StageHost.ExecuteReadOnly("predict", ct =>
        {
            var (config, modelPath) = ModelSource.Resolve(parse.GetValue(modelOption), parse.GetValue(configOption)!);
            using var model = ExportedModel.Open(modelPath);
            var output = parse.GetValue(outOption)!;
            var summary = Prediction.Run(model, parse.GetValue(inputs)!, output, parse.GetValue(formatOption) ?? Prediction.FormatFor(output),
                parse.GetValue(topKOption) ?? config?.Evaluate.TopK ?? 3, config?.Dataset.MaxPixels ?? new DatasetConfig().MaxPixels, ct);
            // With --out - the predictions own standard output; the closing line goes to standard error.
            var log = output == "-" ? Console.Error : Console.Out;
            log.WriteLine($"predict: {summary.Classified} images classified ({summary.Unknown} of them unknown), {summary.Skipped} skipped, "
                          + $"with {modelPath}; wrote {summary.Output}");
            return ExitCodes.Success;
        }));
        return predict;
    }
}
