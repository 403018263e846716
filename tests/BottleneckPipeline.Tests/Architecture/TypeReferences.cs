using System.Reflection;
using System.Reflection.Emit;

namespace BottleneckPipeline.Tests.Architecture;

/// <summary>
/// Every type a compiled type uses: its base type and interfaces, the types in its fields and
/// member signatures, its attributes, its locals, and every type, method or field its IL names
/// (calls, field accesses, casts, typeof, new). Read from the built assembly, so `using`
/// directives, fully qualified names and inferred types (var, lambdas) all count alike.
/// </summary>
public static class TypeReferences
{
    private const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static IEnumerable<Type> Of(Type type)
    {
        var found = new List<Type>();
        void Add(Type? t) => Flatten(t, found);

        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        AddAttributes(type.CustomAttributes, found);
        foreach (var f in type.GetFields(Declared))
        {
            Add(f.FieldType);
            AddAttributes(f.CustomAttributes, found);
        }
        foreach (var p in type.GetProperties(Declared)) Add(p.PropertyType);
        foreach (var m in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            AddAttributes(m.CustomAttributes, found);
            foreach (var p in m.GetParameters())
            {
                Add(p.ParameterType);
                AddAttributes(p.CustomAttributes, found);
            }
            var body = m.GetMethodBody();
            if (body is null) continue;
            foreach (var local in body.LocalVariables) Add(local.LocalType);
            foreach (var t in InIl(m, body.GetILAsByteArray() ?? [])) Add(t);
        }
        return found.Distinct();
    }

    private static void AddAttributes(IEnumerable<CustomAttributeData> attributes, List<Type> found)
    {
        foreach (var a in attributes)
        {
            Flatten(a.AttributeType, found);
            foreach (var arg in a.ConstructorArguments.Concat(a.NamedArguments.Select(n => n.TypedValue)))
                if (arg.Value is Type t) Flatten(t, found);
        }
    }

    /// <summary>A type and what it is made of: array elements, generic arguments.</summary>
    private static void Flatten(Type? t, List<Type> found)
    {
        while (t is not null && t.HasElementType) t = t.GetElementType();
        if (t is null || t.IsGenericParameter) return;
        if (t.IsGenericType && !t.IsGenericTypeDefinition)
        {
            foreach (var a in t.GetGenericArguments()) Flatten(a, found);
            t = t.GetGenericTypeDefinition();
        }
        found.Add(t);
    }

    /// <summary>The types named by the tokens of a method body's instructions.</summary>
    private static IEnumerable<Type> InIl(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            var op = il[i] == 0xFE ? TwoByte[il[i + 1]] : OneByte[il[i]];
            i += op.Size;
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    var member = module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs);
                    i += 4;
                    switch (member)
                    {
                        case Type t: yield return t; break;
                        case FieldInfo f: yield return f.DeclaringType!; yield return f.FieldType; break;
                        case MethodBase m:
                            if (m.DeclaringType is { } declaring) yield return declaring;
                            if (m is MethodInfo { IsGenericMethod: true } g)
                                foreach (var a in g.GetGenericArguments()) yield return a;
                            break;
                    }
                    break;
                default: i += 4; break; // InlineI, InlineBrTarget, ShortInlineR, InlineString, InlineSig
            }
        }
    }

    private static readonly OpCode[] OneByte = new OpCode[256];
    private static readonly OpCode[] TwoByte = new OpCode[256];

    static TypeReferences()
    {
        foreach (var f in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var op = (OpCode)f.GetValue(null)!;
            var value = (ushort)op.Value;
            if (op.Size == 1) OneByte[value] = op;
            else TwoByte[value & 0xFF] = op;
        }
    }
}
