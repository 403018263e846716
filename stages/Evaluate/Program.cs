// Evaluate stage: the head on the test split (report, confusion matrix, exported ONNX model);
// `--data DIR --out FILE.json` scores another labelled folder; `predict` classifies images.
using System.CommandLine;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var dataOption = new Option<string?>("--data") { Description = "Score this folder of class subfolders instead of the test split." };
var outOption = new Option<string?>("--out") { Description = "With --data: where to write the report JSON." };
var root = new RootCommand("Evaluate the head on the test split, export the model, or score another labelled folder.") { configOption, dataOption, outOption };
root.SetAction(parse =>
{
    var configPath = parse.GetValue(configOption)!;
    var data = parse.GetValue(dataOption);
    if (data is null)
        return StageHost.Execute("evaluate", configPath, EvaluateStage.Sections, (config, db, ct) =>
        {
            var outcome = EvaluateStage.Run(config, db, ct);
            if (outcome.Note is { } note) Console.WriteLine($"  note: {note}");
            Console.WriteLine(outcome.Summary);
            Console.WriteLine($"  the misclassified photos: {Path.Combine(config.ReportsDir, EvaluationPage.FileName)}");
            return outcome.Summary;
        });
    var outPath = parse.GetValue(outOption);
    if (outPath is null) return StageHost.Guard("evaluate", () => throw new ConfigException("--data needs --out FILE.json: where to write the report."));
    return StageHost.Execute("evaluate --data", configPath, EvaluateStage.Sections, (config, db, ct) =>
    {
        var (report, skipped, model) = EvaluateStage.ScoreFolder(config, db, data, outPath, ct);
        foreach (var s in skipped) Console.WriteLine($"  skipped {s}");
        if (model.Note is { } note) Console.WriteLine($"  note: {note}");
        var line = $"evaluate: {data}: {EvaluateStage.Describe(report)}, {model.Name}; wrote {outPath} and {EvaluationPage.PathBeside(outPath)}";
        Console.WriteLine(line);
        return line;
    }, exclusive: false);
});

var inputs = new Argument<string[]>("paths") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
var csvOption = new Option<string>("--out") { Description = "CSV file to write.", DefaultValueFactory = _ => "predictions.csv" };
var topKOption = new Option<int?>("--top-k") { Description = "Labels per image (default evaluate.top_k)." };
var predict = new Command("predict", "Classify unlabelled images; writes CSV with the top-k labels and probabilities.") { configOption, inputs, csvOption, topKOption };
predict.SetAction(parse => StageHost.Execute("predict", parse.GetValue(configOption)!, EvaluateStage.Sections, (config, db, ct) =>
{
    var outCsv = parse.GetValue(csvOption)!;
    var (count, skipped, model) = EvaluateStage.Predict(config, db, parse.GetValue(inputs)!, outCsv, parse.GetValue(topKOption) ?? config.Evaluate.TopK, ct);
    foreach (var s in skipped) Console.WriteLine($"  skipped {s}");
    if (model.Note is { } note) Console.WriteLine($"  note: {note}");
    var line = $"predict: {count} images classified, {model.Name}; wrote {outCsv}";
    Console.WriteLine(line);
    return line;
}, exclusive: false));
root.Subcommands.Add(predict);
return root.Parse(args).Invoke();
