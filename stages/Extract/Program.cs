// Extract stage: implemented beside this file (ExtractStage); this file only parses arguments and
// prints the one-line summary. `inspect` shows what the pipeline makes of the backbone, touching no workspace.
using System.CommandLine;
using System.Globalization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Extract.Inspect;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Hosting;

var configOption = StageHost.ConfigOption();
var root = new RootCommand("Extract: embed every indexed image with the frozen backbone, once, into the bottleneck cache.") { configOption };
root.SetAction(parse => StageHost.Execute("extract", parse.GetValue(configOption)!, ExtractStage.Sections, (config, db, ct) =>
{
    var s = ExtractStage.Run(config, db, ct);
    var line = s.UpToDate
        ? "extract: up to date"
        : string.Create(CultureInfo.InvariantCulture,
            $"extract: {s.Extracted} extracted, {s.Reused} reused, {s.Quarantined} quarantined in {s.Seconds:0.0} s ({s.ImagesPerSecond:0.0} img/s); {s.Backbone} {s.Dimension}-d, fingerprint {s.Fingerprint}");
    Console.WriteLine(line);
    return line;
}));

var jsonOption = new Option<bool>("--json") { Description = "Print the inspection as JSON." };
var imageOption = new Option<string?>("--image") { Description = "Image to run through the model (default: the first image under dataset.root)." };
var inspect = new Command("inspect", "Show what the pipeline makes of the configured backbone: inputs and outputs, the bottleneck and why, " +
                                     "input size, layout and normalization, fingerprint, ops, a one-image timing and that image's vector. " +
                                     "Reads only the config, the model and one image; the workspace is not touched.") { configOption, jsonOption, imageOption };
inspect.SetAction(parse => StageHost.Guard("extract", () =>
{
    var config = ConfigLoader.Load(parse.GetValue(configOption)!);
    var inspection = BackboneInspector.Inspect(config, parse.GetValue(imageOption));
    Console.Write(parse.GetValue(jsonOption) ? InspectionWriter.Json(inspection) : InspectionWriter.Text(inspection));
    return ExitCodes.Success;
}));
root.Subcommands.Add(inspect);
return root.Parse(args).Invoke();
