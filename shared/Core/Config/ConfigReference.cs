using System.Globalization;
using System.Reflection;
using System.Text;

namespace BottleneckPipeline.Config;

/// <summary>One key of the config (or a section of keys), as its definition in <see cref="PipelineConfig"/> gives it.</summary>
/// <param name="Path">The dotted key, like 'fine_tune.augment.views'.</param>
/// <param name="Default">The key's value in a config that leaves it out.</param>
internal sealed record ConfigKey(string Path, PropertyInfo Property, object? Default)
{
    public DocAttribute? Doc => Property.GetCustomAttribute<DocAttribute>();
    public RangeAttribute? Range => Property.GetCustomAttribute<RangeAttribute>();
    public bool SpeedOnly => Property.GetCustomAttribute<SpeedOnlyAttribute>() is not null;
    public bool IsSection => ConfigLoader.IsSection(Property.PropertyType);

    /// <summary>The default as a config would write it (null for an unset key), the way pipeline.yaml shows it.</summary>
    public string DefaultYaml => ConfigLoader.YamlText(Default);
}

/// <summary>
/// docs/config-reference.md: every key with its default, its range or allowed values, its meaning and
/// whether it changes only speed, generated from the config's own definitions (the properties, their
/// [Range], [SpeedOnly] and [Doc], the enums' values), so it cannot drift from what the loader accepts.
/// `make config-reference` writes it (Ingest config-reference); a test fails when the file differs.
/// </summary>
public static class ConfigReference
{
    public const string FilePath = "docs/config-reference.md";

    /// <summary>Every key and section, depth first in declaration order, each with its default.</summary>
    internal static IEnumerable<ConfigKey> Keys() => KeysOf(new PipelineConfig(), "");

    private static IEnumerable<ConfigKey> KeysOf(object defaults, string prefix)
    {
        foreach (var (key, property) in ConfigLoader.Keys(defaults.GetType()).OrderBy(k => k.Property.MetadataToken))
        {
            var value = property.GetValue(defaults);
            var entry = new ConfigKey(prefix + key, property, value);
            yield return entry;
            if (entry.IsSection)
                foreach (var inner in KeysOf(value!, entry.Path + "."))
                    yield return inner;
        }
    }

    /// <summary>The whole of docs/config-reference.md.</summary>
    public static string Markdown()
    {
        var sb = new StringBuilder();
        sb.Append("""
            # Config reference

            <!-- Generated from shared/Core/Config/PipelineConfig.cs by `make config-reference`: edit the definitions there, not this file. -->

            Every key of the pipeline's YAML config: its default, the values it takes and what it means. Only
            `dataset.root` is required; every other key may be left out for its default. `pipeline.yaml` shows
            the keys most configs change, and [configuration.md](configuration.md) explains how the file is
            read, checked and resolved. Keys marked *speed only* change how fast a result is made, never a bit
            of it: they are left out of their section's hash, so changing one re-runs nothing.

            """);
        foreach (var top in Keys().Where(k => !k.Path.Contains('.')))
        {
            sb.Append('\n').Append("## `").Append(top.Path).Append("`\n\n");
            if (top.IsSection && top.Doc is { } doc) sb.Append(doc.Meaning).Append("\n\n");
            sb.Append("| key | default | values | meaning |\n|---|---|---|---|\n");
            var rows = top.IsSection ? Keys().Where(k => k.Path.StartsWith(top.Path + ".", StringComparison.Ordinal)) : [top];
            foreach (var key in rows)
            {
                var meaning = key.Doc?.Meaning ?? throw new InvalidOperationException($"config key '{key.Path}' has no [Doc]");
                if (key.IsSection)
                {
                    sb.Append($"| `{key.Path}` | | section | {Cell(meaning)} |\n");
                    continue;
                }
                sb.Append($"| `{key.Path}` | {Cell(DefaultCell(key))} | {Cell(Values(key))} | {(key.SpeedOnly ? "*Speed only.* " : "")}{Cell(meaning)} |\n");
            }
        }
        return sb.ToString();
    }

    private static string DefaultCell(ConfigKey key) => key.Doc?.Default ?? key.Default switch
    {
        null => "unset",
        _ => $"`{key.DefaultYaml}`",
    };

    /// <summary>The values a key takes: its enum's values, or its type and range; "or unset" where null is allowed.</summary>
    private static string Values(ConfigKey key)
    {
        var type = key.Property.PropertyType;
        var t = Nullable.GetUnderlyingType(type) ?? type;
        var range = key.Range is { } r ? $", {Number(r.Min)} to {Number(r.Max)}" : "";
        var values =
            t.IsEnum ? string.Join(", ", ConfigLoader.ValueNames(t).Select(n => $"`{n}`")) :
            t == typeof(bool) ? "`true`, `false`" :
            t == typeof(int) || t == typeof(long) ? "whole number" + range :
            t == typeof(double) ? "number" + range :
            t == typeof(List<double>) ? "list of numbers" :
            t == typeof(string) ? "text" :
            throw new InvalidOperationException($"config key '{key.Path}' has a type the reference cannot describe: {t.Name}");
        return key.Default is null && key.Doc?.Default is not "required" ? values + "; or unset" : values;
    }

    private static string Number(double d) => d.ToString("0.##########", CultureInfo.InvariantCulture);

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
