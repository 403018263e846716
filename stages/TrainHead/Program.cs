// TrainHead stage: fit the new softmax layer on the cached train vectors, validated on the
// validation split. The work is in the library (BottleneckPipeline.Head); this file parses arguments.
using System.CommandLine;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.TrainHead;

var configOption = StageHost.ConfigOption();
var command = new RootCommand("Train the softmax head on the cached bottleneck vectors.") { configOption };
command.SetAction(parse => StageHost.Execute("train-head", parse.GetValue(configOption)!, TrainHeadStage.Sections, (config, db, ct) =>
{
    // The first stage that reads the splits says what dataset.exclude leaves out, and which of its lines name nothing.
    var excluded = ExcludedImages.Of(config, db);
    foreach (var line in excluded.Warnings) Printable.WriteLine($"  WARNING: {line}");
    if (excluded.Summary is { } left) Printable.WriteLine($"  {left}");
    var outcome = TrainHeadStage.Run(config, db, ct, excluded);
    if (outcome.Warning is { } warning) Printable.WriteLine($"  WARNING: {warning}");
    Printable.WriteLine(outcome.Summary);
    return outcome.Summary;
}));
return command.Parse(args).Invoke();
