// Extract stage: implemented beside this file (ExtractStage); this file only parses arguments and
// prints the one-line summary. `inspect` shows what the pipeline makes of the backbone, touching no workspace.
using System.CommandLine;
using System.Globalization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Extract.Inspect;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var shardOption = new Option<string?>("--shard")
{
    Description = "Embed only shard I/N of the images (I from 0 to N-1) into the shared cache, beside other shards on any machine; " +
                  "writes reports/shards/extract-I-of-N.json instead of extract.json. 'none': a whole Extract, whatever the scheduler's environment.",
};
var shardsOption = new Option<int?>("--shards")
{
    Description = "Shard count N, the index coming from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (Kubernetes Indexed Job).",
};
var root = new RootCommand("Extract: embed every indexed image with the frozen backbone, once, into the bottleneck cache. " +
                           "After shards, a plain run checks the cache is complete and writes the report.") { configOption, shardOption, shardsOption };
root.SetAction(parse =>
{
    var configPath = parse.GetValue(configOption)!;
    return StageHost.Guard("extract", () =>
    {
        var shard = ExtractShard.Resolve(parse.GetValue(shardOption), parse.GetValue(shardsOption), Environment.GetEnvironmentVariable);
        if (shard is { } mine)
            return StageHost.ExecuteShared("extract", configPath,
                $"extract shard {mine} pid {Environment.ProcessId} on {Environment.MachineName}", (config, ct) =>
            {
                var s = ShardRun.Run(config, mine, ct, line => Printable.WriteLine(line));
                Printable.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"extract: shard {mine}: {s.Extracted} extracted, {s.Reused} reused, {s.EmbeddedByOthers} embedded by another shard, " +
                    $"{s.Quarantined.Count} quarantined of {s.Assigned} in {s.Seconds:0.0} s ({s.ImagesPerSecond:0.0} img/s); " +
                    $"summary {ShardSummary.PathFor(config, mine)}"));
            });
        return StageHost.Execute("extract", configPath, ExtractStage.Sections, (config, db, ct) =>
        {
            var s = ExtractStage.Run(config, db, ct);
            var line = s.UpToDate
                ? "extract: up to date"
                : string.Create(CultureInfo.InvariantCulture,
                    $"extract: {s.Extracted} extracted, {s.Reused} reused, {s.Quarantined} quarantined in {s.Seconds:0.0} s ({s.ImagesPerSecond:0.0} img/s); " +
                    $"{s.Backbone} {s.Dimension}-d, fingerprint {s.Fingerprint}");
            if (s.Shards is { } t)
                line += string.Create(CultureInfo.InvariantCulture,
                    $"; {t.Summaries} shard(s) of {t.Counts} reported {t.Extracted} extracted, {t.Quarantined} quarantined, longest {t.LongestSeconds:0.0} s");
            Printable.WriteLine(line);
            return line;
        });
    });
});

var jsonOption = new Option<bool>("--json") { Description = "Print the inspection as JSON." };
var imageOption = new Option<string?>("--image") { Description = "Image to run through the model (default: the first image under dataset.root)." };
var inspect = new Command("inspect", "Show what the pipeline makes of the configured backbone: inputs and outputs, the bottleneck and why, " +
                                     "input size, layout and normalization, fingerprint, ops, a one-image timing and that image's vector. " +
                                     "Reads only the config, the model and one image; the workspace is not touched.") { configOption, jsonOption, imageOption };
inspect.SetAction(parse => StageHost.Guard("extract", () =>
{
    var config = ConfigLoader.Load(parse.GetValue(configOption)!);
    var inspection = BackboneInspector.Inspect(config, parse.GetValue(imageOption));
    Console.Write(parse.GetValue(jsonOption) ? InspectionWriter.Json(inspection) : Printable.Text(InspectionWriter.Text(inspection)));
    return ExitCodes.Success;
}));
root.Subcommands.Add(inspect);
return root.Parse(args).Invoke();
