// Ingest stage: index dataset.root into the workspace's SQLite index. The work is in the library
// (BottleneckPipeline.Ingest); this file parses arguments and prints the summary.
using System.CommandLine;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Hosting;

var configOption = StageHost.ConfigOption();
var printWorkspace = new Option<bool>("--print-workspace")
{
    Description = "Print the config's workspace and cache folders (one per line) and exit: what `make clean` needs.",
};
var command = new RootCommand("Index a folder of class subfolders: content ids, rejects, conflicts and a deterministic split.") { configOption, printWorkspace };
command.SetAction(parse => parse.GetValue(printWorkspace)
    ? StageHost.PrintWorkspace(parse.GetValue(configOption)!)
    : StageHost.Execute("ingest", parse.GetValue(configOption)!, ["dataset"], (config, db, ct) =>
{
    var result = Ingestor.Run(config.Dataset, db, ct: ct);
    IngestReport.Write(result, config.ReportsDir);
    var summary = IngestReport.Summary(result);
    Console.WriteLine(summary);
    foreach (var line in IngestReport.Details(result)) Console.WriteLine(line);
    return summary;
}));
return command.Parse(args).Invoke();
