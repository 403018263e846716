using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Hosting;

/// <summary>
/// Which config a workspace belongs to. Two configs that hold only dataset.root, side by side, both
/// default to the workspace "workspace" beside them, and the second would replace the first's index,
/// head, reports and model.onnx without a word. So the first stage to write a workspace records its
/// config and dataset (owner.json, written atomically), and a run with another config is refused
/// (exit 2) before it writes anything, naming both. `clean` with the owning config removes the file
/// with the rest and so releases the workspace.
/// <code>
/// {
///   "config": "/home/me/project/pipeline.yaml",
///   "config_from_workspace": "../pipeline.yaml",
///   "dataset_root": "/home/me/project/flower_photos",
///   "claimed_by": "ingest",
///   "claimed_at": "(when, in UTC, ISO 8601)"
/// }
/// </code>
/// The config is known by its absolute path as given (a Kubernetes ConfigMap mounted at one path
/// stays one config when its symbolic links are swapped under it), or by its real path; a config
/// whose recorded path no longer exists is still the owner when it sits where the record says
/// relative to the workspace (the project folder was moved or renamed, workspace and all).
/// </summary>
public static class WorkspaceOwner
{
    private sealed record Record(string Config, string? ConfigFromWorkspace, string DatasetRoot);

    /// <summary>Refuses, before anything is written, a config that is not the workspace's owner.
    /// Read-only commands call only this; it never writes.</summary>
    public static void Check(PipelineConfig config)
    {
        if (Read(config) is { } owner && !IsOwner(config, owner)) throw Refusal(config, owner);
    }

    /// <summary>
    /// For a run that writes the workspace, under its lock: refuses another config's run (as
    /// <see cref="Check"/>), and records this config as the owner when no one is, or when what is
    /// recorded is out of date (a dataset.root changed in the config, a project folder moved).
    /// </summary>
    public static void Claim(PipelineConfig config, string stage)
    {
        var owner = Read(config);
        if (owner is not null && !IsOwner(config, owner)) throw Refusal(config, owner);
        var mine = new Record(config.SourcePath, FromWorkspace(config), config.Dataset.Root);
        if (owner == mine) return;
        var json = new JsonObject
        {
            ["config"] = mine.Config,
            ["config_from_workspace"] = mine.ConfigFromWorkspace,
            ["dataset_root"] = mine.DatasetRoot,
            ["claimed_by"] = stage,
            ["claimed_at"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        AtomicFile.WriteAllText(ArtifactPaths.Owner(config), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static Record? Read(PipelineConfig config)
    {
        var path = ArtifactPaths.Owner(config);
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        try
        {
            var json = JsonNode.Parse(text)!.AsObject();
            var owner = json["config"]?.GetValue<string>();
            var root = json["dataset_root"]?.GetValue<string>();
            if (owner is { Length: > 0 } && root is not null) return new Record(owner, json["config_from_workspace"]?.GetValue<string>(), root);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { }
        throw new InputException($"the workspace's owner file {path} cannot be read (it is not the JSON the pipeline writes). " +
                                 "If no other config uses this workspace, delete the file and run again; the next run records its own config there.");
    }

    private static bool IsOwner(PipelineConfig config, Record owner)
    {
        if (string.Equals(owner.Config, config.SourcePath, StringComparison.Ordinal)) return true;
        if (RealPath.Of(owner.Config) is { } real)
            return string.Equals(real, RealPath.Of(config.SourcePath), StringComparison.Ordinal);
        // The recorded config is gone: the same config when it lies where it did, seen from the workspace.
        return owner.ConfigFromWorkspace is { } rel && string.Equals(rel, FromWorkspace(config), StringComparison.Ordinal);
    }

    private static string FromWorkspace(PipelineConfig config) =>
        Path.GetRelativePath(config.Workspace, config.SourcePath).Replace(Path.DirectorySeparatorChar, '/');

    private static ConfigException Refusal(PipelineConfig config, Record owner)
    {
        var workspace = config.Workspace;
        var gone = File.Exists(owner.Config) ? "" : " (that file no longer exists)";
        var suggestion = "workspace-" + Path.GetFileNameWithoutExtension(config.SourcePath);
        var release = File.Exists(owner.Config)
            ? $"or, if this config replaces that one, run `make clean CONFIG={owner.Config}` first, " +
              "which releases the workspace (the bottleneck cache is kept)"
            : $"or, if this config replaces that one, delete {ArtifactPaths.Owner(config)} and run again";
        return new ConfigException(
            $"workspace {workspace} belongs to the config {owner.Config}{gone} (dataset.root {owner.DatasetRoot}); " +
            $"this run's config {config.SourcePath} (dataset.root {config.Dataset.Root}) would replace its index, head, reports and model.onnx. " +
            $"Give this config a workspace of its own: set 'workspace:' in {config.SourcePath} (for example 'workspace: {suggestion}'); {release}.");
    }
}
