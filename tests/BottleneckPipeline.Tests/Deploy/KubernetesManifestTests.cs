using BottleneckPipeline.Config;
using BottleneckPipeline.Tests.Fixtures;
using YamlDotNet.RepresentationModel;

namespace BottleneckPipeline.Tests.Deploy;

/// <summary>
/// deploy/k8s cannot run here (no cluster), so its manifests are parsed and the fields that make
/// the pipeline work are checked: the Indexed Job and its --shard command, the shared volume and
/// the config every pod mounts, and the image's layout the commands rely on.
/// </summary>
public class KubernetesManifestTests
{
    private static string Folder => Path.Combine(RepoPaths.Root, "deploy", "k8s");

    private static readonly string[] Stages = ["Ingest", "Extract", "TrainHead", "Audit", "Evaluate"];

    private static List<YamlMappingNode> Documents() =>
        [.. Directory.GetFiles(Folder, "*.yaml").Order(StringComparer.Ordinal).SelectMany(path =>
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(path)) stream.Load(reader);
            Assert.NotEmpty(stream.Documents);
            return stream.Documents.Select(d => Assert.IsType<YamlMappingNode>(d.RootNode));
        })];

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            var map = Assert.IsType<YamlMappingNode>(node);
            Assert.True(map.Children.TryGetValue(new YamlScalarNode(key), out var next), $"no '{key}' in {string.Join(".", path)}");
            node = next;
        }
        return node;
    }

    private static string Text(YamlNode node, params string[] path) => Assert.IsType<YamlScalarNode>(At(node, path)).Value!;

    private static List<YamlNode> Items(YamlNode node, params string[] path) => [.. Assert.IsType<YamlSequenceNode>(At(node, path)).Children];

    private static bool Has(YamlNode node, string key) => node is YamlMappingNode m && m.Children.ContainsKey(new YamlScalarNode(key));

    private static List<YamlMappingNode> OfKind(string kind) => [.. Documents().Where(d => Text(d, "kind") == kind)];

    private static YamlMappingNode Job(string name) => Assert.Single(OfKind("Job"), j => Text(j, "metadata", "name") == name);

    private static List<string> Command(YamlNode job) =>
        [.. Items(Assert.Single(Items(job, "spec", "template", "spec", "containers")), "command").Select(n => ((YamlScalarNode)n).Value!)];

    [Fact]
    public void Every_manifest_parses_and_names_its_kind()
    {
        var docs = Documents();
        Assert.True(docs.Count >= 5, $"{docs.Count} documents");
        Assert.All(docs, d =>
        {
            Assert.False(string.IsNullOrEmpty(Text(d, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Text(d, "metadata", "name")));
        });
        Assert.Equal(["bp-extract", "bp-finish", "bp-ingest"], OfKind("Job").Select(j => Text(j, "metadata", "name")).Order());
    }

    [Fact]
    public void Extract_is_an_indexed_job_whose_pods_each_run_their_own_shard()
    {
        var job = Job("bp-extract");
        Assert.Equal("batch/v1", Text(job, "apiVersion"));
        Assert.Equal("Indexed", Text(job, "spec", "completionMode"));
        var completions = int.Parse(Text(job, "spec", "completions"), System.Globalization.CultureInfo.InvariantCulture);
        var parallelism = int.Parse(Text(job, "spec", "parallelism"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(parallelism, 1, completions);
        // Per-index retries need restartPolicy Never.
        if (Has(At(job, "spec"), "backoffLimitPerIndex")) Assert.Equal("Never", Text(job, "spec", "template", "spec", "restartPolicy"));

        var command = Command(job);
        Assert.Equal("/app/Extract", command[0]);
        var shard = command.IndexOf("--shard");
        Assert.True(shard > 0, "no --shard in " + string.Join(' ', command));
        // Shard i of N, with N the job's completions: every index is a different shard, all of them covered.
        Assert.Equal($"$(JOB_COMPLETION_INDEX)/{completions}", command[shard + 1]);
        // $(VAR) in a command expands only for a variable the container's env defines.
        var container = Assert.Single(Items(job, "spec", "template", "spec", "containers"));
        var env = Assert.Single(Items(container, "env"), e => Text(e, "name") == "JOB_COMPLETION_INDEX");
        Assert.Equal("metadata.annotations['batch.kubernetes.io/job-completion-index']", Text(env, "valueFrom", "fieldRef", "fieldPath"));
    }

    [Fact]
    public void Every_job_mounts_the_shared_volume_and_a_config_that_points_into_it()
    {
        var claim = Assert.Single(OfKind("PersistentVolumeClaim"));
        Assert.Contains("ReadWriteMany", Items(claim, "spec", "accessModes").Select(n => ((YamlScalarNode)n).Value));
        var configMaps = OfKind("ConfigMap");

        foreach (var name in new[] { "bp-ingest", "bp-extract", "bp-finish" })
        {
            var pod = At(Job(name), "spec", "template", "spec");
            var volumes = Items(pod, "volumes").ToDictionary(v => Text(v, "name"));
            var container = Assert.Single(Items(pod, "containers"));
            var mounts = Items(container, "volumeMounts").ToDictionary(m => Text(m, "name"), m => Text(m, "mountPath"));
            Assert.Equal(mounts.Keys.Order(), volumes.Keys.Order());

            // The data volume is the claim; the config volume is a ConfigMap holding the file --config names.
            var dataVolume = Assert.Single(volumes.Values, v => Has(v, "persistentVolumeClaim"));
            Assert.Equal(Text(claim, "metadata", "name"), Text(dataVolume, "persistentVolumeClaim", "claimName"));
            var dataMount = mounts[Text(dataVolume, "name")];
            var configVolume = Assert.Single(volumes.Values, v => Has(v, "configMap"));
            var configMount = mounts[Text(configVolume, "name")];
            var map = Assert.Single(configMaps, c => Text(c, "metadata", "name") == Text(configVolume, "configMap", "name"));

            var command = string.Join(' ', Command(Job(name)));
            var configPath = command.Split(' ').SkipWhile(a => a != "--config").Skip(1).First();
            Assert.StartsWith(configMount + "/", configPath);
            var config = ConfigLoader.Parse(Text(map, "data", Path.GetFileName(configPath)), configPath);
            foreach (var path in new[] { config.Dataset.Root, config.Workspace, config.CacheDir })
                Assert.StartsWith(dataMount + "/", path); // on the volume every pod shares
        }
    }

    [Fact]
    public void The_commands_run_the_stages_in_order_from_where_the_image_puts_them()
    {
        Assert.Equal(["/app/Ingest", "--config"], Command(Job("bp-ingest")).Take(2));
        var finish = string.Join(' ', Command(Job("bp-finish")));
        var order = new[] { "/app/Extract --config /config/pipeline.yaml --shard none", "/app/TrainHead", "/app/Audit", "/app/Evaluate" }
            .Select(s => finish.IndexOf(s, StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(-1, order);
        Assert.Equal(order.Order(), order);
        Assert.Contains("&&", finish); // a failed stage stops the ones after it

        // Multi-stage: the SDK image builds and publishes every stage into /app, the runtime image gets /app.
        var dockerfile = File.ReadAllLines(Path.Combine(Folder, "Dockerfile")).Where(l => !l.TrimStart().StartsWith('#')).ToList();
        var froms = dockerfile.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, froms.Count);
        Assert.Contains("mcr.microsoft.com/dotnet/sdk:10.0", froms[0]);
        Assert.Contains("mcr.microsoft.com/dotnet/runtime:10.0", froms[1]);
        var text = string.Join('\n', dockerfile);
        Assert.Contains("-o /app", text);
        Assert.Contains("COPY --from=build /app /app", text);
        foreach (var stage in Stages)
        {
            Assert.Contains(stage, text);
            Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "stages", stage, stage + ".csproj")), stage);
        }
    }
}
