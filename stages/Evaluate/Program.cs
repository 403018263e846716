// Evaluate stage: weighs the head alone against FineTune's network on validation, reports the shipped
// one on the test split and exports it as model.onnx (EvaluateStage). `--data DIR` scores a labelled
// folder with model.onnx (FolderScoring); `predict` classifies images with it (Prediction).
using System.CommandLine;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var modelOption = new Option<string?>("--model") { Description = "A model.onnx that Evaluate exported; no config, index or workspace is read." };
var topKOption = new Option<int?>("--top-k") { Description = "Labels per image (default evaluate.top_k, or 3 with --model)." };
var fineTunedOption = new Option<bool>("--with-fine-tuned")
{
    Description = "Weigh FineTune's network against the head alone whatever fine_tune.enabled says (make fine-tune passes it).",
};
var dataOption = new Option<string?>("--data") { Description = "Score this folder of class subfolders with model.onnx instead of evaluating the workspace." };
var oodOption = new Option<string?>("--ood") { Description = "Score this folder of photos known to be of no class with model.onnx's unknown rule, against the test split." };
var outOption = new Option<string?>("--out") { Description = "With --data or --ood: where to write the report JSON (--data's page goes beside it)." };
var root = new RootCommand("Evaluate: weigh the head alone against the fine-tuned network on validation, report the shipped one on the test split " +
                           "and export it as model.onnx; or score another labelled folder with model.onnx (--data).")
{ configOption, fineTunedOption, dataOption, oodOption, outOption, modelOption, topKOption };
root.SetAction(parse =>
{
    var configPath = parse.GetValue(configOption)!;
    if (parse.GetValue(oodOption) is { } ood)
        return StageHost.ExecuteReadOnly("evaluate --ood", ct =>
        {
            var outPath = parse.GetValue(outOption) ?? throw new ConfigException("--ood needs --out FILE.json: where to write the report.");
            var config = ConfigLoader.Load(configPath);
            WorkspaceOwner.Check(config);
            using var model = ExportedModel.Open(parse.GetValue(modelOption) ?? ArtifactPaths.Model(config));
            var r = OodScoring.Run(model, config, ood, outPath, ct);
            foreach (var s in r.Skipped) Console.WriteLine($"  skipped {s}");
            Console.WriteLine(FormattableString.Invariant(
                $"evaluate: {ood}: {r.Images} photos of no class against {r.InClassImages} test photos: AUROC {r.Auroc:0.000}, {100 * r.FlaggedShare:0.0}% called unknown, ") +
                FormattableString.Invariant($"FPR at 95% TPR {r.FprAt95Tpr:0.000} (maximum softmax probability: AUROC {r.Baseline.Auroc:0.000}); wrote {outPath}"));
            return ExitCodes.Success;
        });
    if (parse.GetValue(dataOption) is not { } data)
        return StageHost.Execute("evaluate", configPath, EvaluateStage.Sections, (config, db, ct) =>
        {
            var outcome = EvaluateStage.Run(config, db, parse.GetValue(fineTunedOption), ct);
            if (outcome.Note is { } note) Console.WriteLine($"  note: {note}");
            foreach (var warning in outcome.Report?.Warnings ?? []) Console.WriteLine($"  WARNING: {warning}");
            Console.WriteLine(outcome.Summary);
            Console.WriteLine($"  the misclassified photos: {ArtifactPaths.EvaluationPage(config)}");
            return outcome.Summary;
        });
    return StageHost.ExecuteReadOnly("evaluate --data", ct =>
    {
        var outPath = parse.GetValue(outOption) ?? throw new ConfigException("--data needs --out FILE.json: where to write the report.");
        var (config, modelPath) = ModelSource(parse.GetValue(modelOption), configPath);
        using var model = ExportedModel.Open(modelPath);
        var score = FolderScoring.Run(model, data, outPath, parse.GetValue(topKOption) ?? config?.Evaluate.TopK ?? 3,
            config?.Dataset.MaxPixels ?? new DatasetConfig().MaxPixels, config, ct);
        foreach (var s in score.Skipped) Console.WriteLine($"  skipped {s}");
        var r = score.Report;
        Console.WriteLine($"evaluate: {data}: accuracy {r.Accuracy}, top-{r.TopK} {r.TopKAccuracy.Percent}" +
                          (r.UnknownShare is { } u ? FormattableString.Invariant($", {100 * u:0.0}% called unknown") : "") +
                          (r.Overlap is { } o ? $"; {o.Train + o.Validation + o.Test} already in the workspace (train {o.Train}, validation {o.Validation}, test {o.Test}), " +
                                                $"accuracy on the {o.Unseen.Images} others {o.Unseen}" : "") +
                          $"; {r.Model}; wrote {outPath} and {EvaluationPage.PathBeside(outPath)}");
        return ExitCodes.Success;
    });
});

var inputs = new Argument<string[]>("paths") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
var predictOut = new Option<string>("--out") { Description = "File to write, or - for standard output.", DefaultValueFactory = _ => "predictions.csv" };
var formatOption = new Option<PredictionFormat?>("--format") { Description = "csv or json (default: json for a .json file, else csv)." };
var predict = new Command("predict", "Classify images with a model.onnx that Evaluate exported (--model, or the workspace's): every file gets a row " +
                                     "with its top-k labels and probabilities, or why it was skipped.")
{ configOption, modelOption, inputs, predictOut, formatOption, topKOption };
predict.SetAction(parse => StageHost.ExecuteReadOnly("predict", ct =>
{
    var (config, modelPath) = ModelSource(parse.GetValue(modelOption), parse.GetValue(configOption)!);
    using var model = ExportedModel.Open(modelPath);
    var output = parse.GetValue(predictOut)!;
    var summary = Prediction.Run(model, parse.GetValue(inputs)!, output, parse.GetValue(formatOption) ?? Prediction.FormatFor(output),
        parse.GetValue(topKOption) ?? config?.Evaluate.TopK ?? 3, config?.Dataset.MaxPixels ?? new DatasetConfig().MaxPixels, ct);
    // With --out - the predictions own standard output; the closing line goes to standard error.
    var log = output == "-" ? Console.Error : Console.Out;
    log.WriteLine($"predict: {summary.Classified} images classified ({summary.Unknown} of them unknown), {summary.Skipped} skipped, with {modelPath}; wrote {summary.Output}");
    return ExitCodes.Success;
}));
root.Subcommands.Add(predict);
return root.Parse(args).Invoke();

// --model alone needs no config; otherwise the config's workspace holds the model, and must be that config's.
static (PipelineConfig? Config, string ModelPath) ModelSource(string? model, string configPath)
{
    if (model is not null) return (null, model);
    var config = ConfigLoader.Load(configPath);
    WorkspaceOwner.Check(config);
    return (config, ArtifactPaths.Model(config));
}
