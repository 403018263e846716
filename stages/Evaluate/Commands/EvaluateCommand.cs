using System.CommandLine;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate.Commands;

/// <summary>
/// The stage's command: evaluate the workspace (weigh the head alone against FineTune's network on validation, report
/// the shipped one on the test split, export model.onnx), or, with --data or --ood, score another folder with an
/// exported model.onnx without touching the workspace. Each prints its one closing line.
/// </summary>
internal static class EvaluateCommand
{
    public static RootCommand Create(Option<string> configOption, Option<string?> modelOption, Option<int?> topKOption)
    {
        var fineTunedOption = new Option<bool>("--with-fine-tuned")
        {
            Description = "Weigh FineTune's network against the head alone whatever fine_tune.enabled says (make fine-tune passes it).",
        };
        var dataOption = new Option<string?>("--data")
        {
            Description = "Score this folder of class subfolders with model.onnx instead of evaluating the workspace.",
        };
        var oodOption = new Option<string?>("--ood")
        {
            Description = "Score this folder of photos known to be of no class with model.onnx's unknown rule, against the test split.",
        };
        var outOption = new Option<string?>("--out") { Description = "With --data or --ood: where to write the report JSON (--data's page goes beside it)." };
        var root = new RootCommand("Evaluate: weigh the head alone against the fine-tuned network on validation, report the shipped one on the test "
                                   + "split and export it as model.onnx; or score another labelled folder with model.onnx (--data).")
        { configOption, fineTunedOption, dataOption, oodOption, outOption, modelOption, topKOption };
        root.SetAction(parse =>
        {
            var configPath = parse.GetValue(configOption)!;
            var outPath = parse.GetValue(outOption);
            if (parse.GetValue(oodOption) is { } ood) return ScoreOod(configPath, parse.GetValue(modelOption), ood, outPath);
            if (parse.GetValue(dataOption) is { } data) return ScoreFolder(configPath, parse.GetValue(modelOption), data, outPath, parse.GetValue(topKOption));
            return EvaluateWorkspace(configPath, parse.GetValue(fineTunedOption));
        });
        return root;
    }

    private static int EvaluateWorkspace(string configPath, bool withFineTuned) =>
        StageHost.Execute("evaluate", configPath, EvaluateStage.Sections, (config, db, ct) =>
        {
            var outcome = EvaluateStage.Run(config, db, withFineTuned, ct);
            if (outcome.Note is { } note) Printable.WriteLine($"  note: {note}");
            foreach (var warning in outcome.Report?.Warnings ?? []) Printable.WriteLine($"  WARNING: {warning}");
            Printable.WriteLine(outcome.Summary);
            Printable.WriteLine($"  the misclassified photos: {ArtifactPaths.EvaluationPage(config)}");
            return outcome.Summary;
        });

    private static int ScoreFolder(string configPath, string? modelPath, string data, string? outPath, int? topK) =>
        StageHost.ExecuteReadOnly("evaluate --data", ct =>
        {
            var output = outPath ?? throw new ConfigException("--data needs --out FILE.json: where to write the report.");
            var (config, path) = ModelSource.Resolve(modelPath, configPath);
            using var model = ExportedModel.Open(path);
            var score = FolderScoring.Run(model, data, output, topK ?? config?.Evaluate.TopK ?? 3,
                config?.Dataset.MaxPixels ?? new DatasetConfig().MaxPixels, config, ct);
            foreach (var s in score.Skipped) Printable.WriteLine($"  skipped {s}");
            var r = score.Report;
            var unknown = r.UnknownShare is { } u ? FormattableString.Invariant($", {100 * u:0.0}% called unknown") : "";
            var overlap = r.Overlap is { } o
                ? $"; {o.Train + o.Validation + o.Test} already in the workspace (train {o.Train}, validation {o.Validation}, test {o.Test}), "
                  + $"accuracy on the {o.Unseen.Images} others {o.Unseen}"
                : "";
            Printable.WriteLine($"evaluate: {data}: accuracy {r.Accuracy}, top-{r.TopK} {r.TopKAccuracy.Percent}{unknown}{overlap}; {r.Model}; "
                              + $"wrote {output} and {EvaluationPage.PathBeside(output)}");
            return ExitCodes.Success;
        });

    private static int ScoreOod(string configPath, string? modelPath, string ood, string? outPath) =>
        StageHost.ExecuteReadOnly("evaluate --ood", ct =>
        {
            var output = outPath ?? throw new ConfigException("--ood needs --out FILE.json: where to write the report.");
            var config = ConfigLoader.Load(configPath);
            WorkspaceOwner.Check(config);
            using var model = ExportedModel.Open(modelPath ?? ArtifactPaths.Model(config));
            var r = OodScoring.Run(model, config, ood, output, ct);
            foreach (var s in r.Skipped) Printable.WriteLine($"  skipped {s}");
            Printable.WriteLine(FormattableString.Invariant(
                $"evaluate: {ood}: {r.Images} photos of no class against {r.InClassImages} test photos: AUROC {r.Auroc:0.000}, ")
                + FormattableString.Invariant($"{100 * r.FlaggedShare:0.0}% called unknown, FPR at 95% TPR {r.FprAt95Tpr:0.000} ")
                + FormattableString.Invariant($"(maximum softmax probability: AUROC {r.Baseline.Auroc:0.000}); wrote {output}"));
            return ExitCodes.Success;
        });
}
