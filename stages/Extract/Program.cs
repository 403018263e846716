// Extract stage: implemented in the library (BottleneckPipeline.Extract); this file only parses
// arguments and prints the one-line summary.
using System.CommandLine;
using System.Globalization;
using BottleneckPipeline.Extract;
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
return root.Parse(args).Invoke();
