using BottleneckPipeline.Config;
using BottleneckPipeline.Tests.Fixtures;
using YamlDotNet.RepresentationModel;

namespace BottleneckPipeline.Tests.Config;

/// <summary>
/// docs/config-reference.md is generated from the config's definitions and must match them;
/// pipeline.yaml shows a subset of the keys, each one real and shown with its real default.
/// </summary>
public class ConfigReferenceTests
{
    private static string ReferencePath => Path.Combine(RepoPaths.Root, ConfigReference.FilePath);
    private static string PipelineYaml => Path.Combine(RepoPaths.Root, "pipeline.yaml");

    [Fact]
    public void The_reference_in_docs_is_the_one_the_definitions_generate()
    {
        var expected = ConfigReference.Markdown();
        var actual = File.Exists(ReferencePath) ? File.ReadAllText(ReferencePath) : "";
        if (actual == expected) return;
        var (want, have) = (expected.Split('\n'), actual.Split('\n'));
        var line = Enumerable.Range(0, Math.Max(want.Length, have.Length)).First(i => i >= want.Length || i >= have.Length || want[i] != have[i]);
        string At(string[] lines) => line < lines.Length ? lines[line] : "(end)";
        Assert.Fail($"{ConfigReference.FilePath} is out of date with shared/Core/Config/PipelineConfig.cs: " +
                    "run `make config-reference` and commit the result.\n" +
                    $"First difference, line {line + 1}:\n  generated: {At(want)}\n  in docs/:  {At(have)}");
    }

    [Fact]
    public void The_reference_has_a_row_with_a_meaning_for_every_key_the_loader_accepts()
    {
        var markdown = ConfigReference.Markdown();
        var keys = ConfigReference.Keys().ToList();
        Assert.Equal(61, keys.Count(k => !k.IsSection)); // pinned, so that a key is added on purpose, with the reference regenerated
        Assert.All(keys, k => Assert.False(string.IsNullOrWhiteSpace(k.Doc?.Meaning), $"'{k.Path}' has no [Doc]"));
        Assert.All(keys, k => Assert.Contains(k.IsSection && !k.Path.Contains('.') ? $"## `{k.Path}`\n" : $"| `{k.Path}` |", markdown));
        Assert.Contains("| `extract.threads` | `0` | whole number, 0 to 256 | *Speed only.*", markdown);
        Assert.Contains("| `fine_tune.trainable` | `last-stage` | `last-stage`, `last-2-stages`, `all` |", markdown);
        Assert.Contains("| `fine_tune.learning_rate` | by depth: 0.01, or 0.003 with trainable: all |", markdown);
    }

    [Fact]
    public void Ingest_config_reference_prints_the_reference()
    {
        var run = StageProcess.Run("Ingest", "config-reference");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal(ConfigReference.Markdown(), run.StdOut);
    }

    [Fact]
    public void Pipeline_yaml_shows_about_a_dozen_real_keys_each_with_its_real_default()
    {
        var shown = ShownKeys(File.ReadAllLines(PipelineYaml));
        var keys = ConfigReference.Keys().ToDictionary(k => k.Path);
        Assert.All(shown, s => Assert.True(keys.ContainsKey(s.Path), $"pipeline.yaml shows '{s.Path}', which is not a key"));
        var leaves = shown.Where(s => !keys[s.Path].IsSection).ToList();
        Assert.InRange(leaves.Count, 8, 20);
        foreach (var (path, value, commented) in leaves)
        {
            if (!commented) continue; // a value the file sets (dataset.root): the shipped config's own
            var key = keys[path];
            var node = ((YamlMappingNode)Yaml("v: " + value)).Children[new YamlScalarNode("v")];
            Assert.True(ConfigLoader.TryConvert(node, key.Property.PropertyType, nullable: true, out var parsed, out var why), $"{path}: '{value}': {why}");
            Assert.True(ConfigLoader.YamlText(parsed) == key.DefaultYaml, $"pipeline.yaml shows '{path}: {value}', but its default is {key.DefaultYaml}");
        }
        Assert.Contains("docs/config-reference.md", File.ReadAllText(PipelineYaml));
        // And the shipped file itself is valid.
        var c = ConfigLoader.Load(PipelineYaml);
        Assert.EndsWith(Path.Combine("shared", "datasets", "flower_photos"), c.Dataset.Root);
    }

    [Fact]
    public void The_shown_key_reader_tells_sections_apart_and_reads_values_without_their_comments()
    {
        var keys = ShownKeys(["extract:", "  # batch_size: 8    # images per call", "# train_head:", "  # l2: 0.0001     # a: comment",
            "# workspace: w", "fine_tune:", "  # learning_rate: null  # by depth", "  augment:", "    crop_scale: [0.5, 1.0]"]);
        Assert.Equal(
        [
            ("extract", "", false), ("extract.batch_size", "8", true), ("train_head", "", true), ("train_head.l2", "0.0001", true), ("workspace", "w", true),
            ("fine_tune", "", false), ("fine_tune.learning_rate", "null", true), ("fine_tune.augment", "", false),
            ("fine_tune.augment.crop_scale", "[0.5, 1.0]", false),
        ], keys);
    }

    private static YamlNode Yaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents[0].RootNode;
    }

    /// <summary>
    /// The keys pipeline.yaml shows, set or commented out, as ('section.key', its value without any
    /// trailing comment, whether it is commented out): a key belongs to the section header above it.
    /// </summary>
    private static List<(string Path, string Value, bool Commented)> ShownKeys(IEnumerable<string> lines)
    {
        // Nesting follows the indentation before the '#': 0 a section, 2 its key, 4 a key of a sub-section.
        var keys = new List<(string, string, bool)>();
        var open = new List<(int Indent, string Path)>();
        foreach (var line in lines)
        {
            var m = System.Text.RegularExpressions.Regex.Match(line, @"^(\s*)(#\s*)?([a-z_][a-z0-9_]*):(?:\s+(.*?))?\s*(?:\s#.*)?$");
            if (!m.Success) continue;
            var indent = m.Groups[1].Length;
            open.RemoveAll(o => o.Indent >= indent);
            if (indent > 0 && open.Count == 0) continue;
            var path = open.Count == 0 ? m.Groups[3].Value : open[^1].Path + "." + m.Groups[3].Value;
            var value = m.Groups[4].Value;
            keys.Add((path, value.StartsWith('#') ? "" : value, m.Groups[2].Success));
            open.Add((indent, path));
        }
        return keys;
    }
}
