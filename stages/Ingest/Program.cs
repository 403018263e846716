// Ingest stage: index dataset.root into the workspace's SQLite index. The work is in the library
// (BottleneckPipeline.Ingest); this file parses arguments and prints the summary.
using System.CommandLine;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var command = new RootCommand("Index a folder of class subfolders: content ids, rejects, conflicts and a deterministic split.") { configOption };
command.SetAction(parse => StageHost.Execute("ingest", parse.GetValue(configOption)!, ["dataset"], (config, db, ct) =>
{
    var result = Ingestor.Run(config.Dataset, db, ct: ct);
    if (IngestReport.Damage(ArtifactPaths.IngestReport(config)) is { } damage)
        Printable.WriteLine(damage.RepairLine("ingest", config.Workspace, "writing it again"));
    IngestReport.Write(result, config.ReportsDir);
    var summary = IngestReport.Summary(result);
    Printable.WriteLine(summary);
    // Rejects, conflicts and warnings name files and folders: their control characters escaped.
    foreach (var line in IngestReport.Details(result)) Printable.WriteLine(line);
    return summary;
}));

// Here because Ingest is the stage that starts a workspace; `make clean` runs it.
var clean = new Command("clean",
    "Remove what the stages wrote into the workspace (index, reports, head, model.onnx), keeping the bottleneck cache and every other file.")
{
    configOption,
};
clean.SetAction(parse => StageHost.Clean(parse.GetValue(configOption)!));
command.Subcommands.Add(clean);

// For scripts that need the config's folders resolved as the stages resolve them (make slurm's logs).
var workspace = new Command("workspace", "Print the config's workspace and cache folders, one per line.") { configOption };
workspace.SetAction(parse => StageHost.PrintWorkspace(parse.GetValue(configOption)!));
command.Subcommands.Add(workspace);
// Every config key's reference, generated from the config's definitions: `make config-reference` writes it to docs/.
var reference = new Command("config-reference", "Print docs/config-reference.md: every config key with its default, values and meaning.");
reference.SetAction(_ => Console.Out.Write(BottleneckPipeline.Config.ConfigReference.Markdown()));
command.Subcommands.Add(reference);
return command.Parse(args).Invoke();
